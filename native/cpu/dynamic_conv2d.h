// Dynamic convolution (CondConv / DY-Conv) on the CPU, the CPU side of ops/dynamic_conv2d.h: every sample b of the
// batch is convolved with its own kernel W_b = sum_k attention[b, k] * experts[k] (and bias sum_k attention[b, k] *
// expert_bias[k]).
//
// Each sample's kernel is mixed right before its convolution: a K-term axpy into a per-thread
// buffer, so the kernel is still in cache when the GEMM packs it (one batched mixing GEMM
// writes and re-reads B * D floats instead: perf counted a third more cycles that way for a
// B128 8x8 forward). The sample then runs as conv2d's implicit GEMM (cpu/conv2d.h: the column
// matrix is packed straight from the input, never materialised). Threads take whole samples when the batch can feed
// them (each sample's GEMMs then run single-threaded) and otherwise the GEMM tiles of one
// sample at a time. Every sample is computed by the same arithmetic whichever thread runs
// it, and writes only its own slice, so results are deterministic at any thread count.
//
// Stride-1 3x3 convs that conv2d would run by Winograd (cpu/conv2d_winograd.h) run so per
// sample here too: the transform is linear, so the experts are transformed once per call and
// each sample mixes their 16 transformed matrices (16/9 of the floats of mixing the kernel, for
// 2.25x fewer GEMM multiply-adds). The input gradient of such a conv (the flipped experts) too.
//
// Backward re-mixes the kernels instead of saving them, and never stores the per-sample
// weight gradients grad_W_b = grad_out_b x col_b^T whole: threads own blocks of the kernel's
// columns and, sample by sample, compute their block of grad_W_b into a scratch tile that stays
// in cache and reduce it at once into
//   grad_experts     = attention^T x grad_W                           [K, D]
//   grad_attention   = grad_W x experts^T + grad_bias x expert_bias^T  [B, K]
//   grad_expert_bias = attention^T x grad_bias                        [K, O]
// (samples in batch order, blocks fixed by the shape: the result does not depend on the thread
// count; cpu/dynamic_conv2d_reduce.h). Where each sample's conv is a stride-1 3x3 conv with
// enough Winograd tiles per image (32x32 maps by F(4x4, 3x3), 16x16 by F(2x2, 3x3)), that
// reduction runs in the transformed domain instead: per sample and point dU_b = Z_b V_b^T, added
// into the experts' transformed gradients and dotted with their transformed kernels, and only the
// K expert gradients transformed back (a quarter of the multiply-adds at 32x32). grad_input is conv2d's adjoint per
// sample: for stride 1 a forward conv with the flipped experts mixed (flipped once per call), otherwise col2im split by
// channel (deterministic).
#pragma once
#include "ops/dynamic_conv2d.h"
