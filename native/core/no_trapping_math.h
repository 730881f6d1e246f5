// Included first by the CPU files whose loops evaluate the shared pointwise formulas
// (math/pointwise.h). FP exceptions are never enabled in flexconv; telling GCC so lets it
// if-convert the formulas' comparisons and vectorise those loops. (A pragma, not a flag for
// the whole addon: it must not change code that relies on trapping semantics elsewhere.)
#pragma once
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
