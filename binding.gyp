# CPU-only node-gyp build of the same sources CMakeLists.txt compiles (scripts/gyp-sources.js
# applies the same globs at build time, so the file lists cannot drift). npm install uses
# CMake through cmake-js; this file is for toolchains that only have node-gyp:
#   npx node-gyp rebuild   ->  build/Release/flexconv.node
# gyp cannot give single files their own flags, so the AVX-512 and AVX2 copies of the per-ISA
# kernels (*_isa.cc, core/isa.h) are static libraries with the wider instruction sets; other
# processors than x86-64 build without them (portable kernels only, as CMake does).
{
  "target_defaults": {
    "include_dirs": ["native", "<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fPIC"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
    "cflags!": ["-fno-exceptions"],
    "conditions": [["target_arch=='x64'", {"defines": ["FLEXCONV_X86_KERNELS"]}]]
  },
  "targets": [
    {
      "target_name": "flexconv",
      "sources": ["<!@(node scripts/gyp-sources.js common)"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["target_arch=='x64'", {
          "dependencies": ["flexconv_avx512", "flexconv_avx2"]
        }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "flexconv_avx512",
          "type": "static_library",
          "sources": ["<!@(node scripts/gyp-sources.js avx512)"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma", "-mavx2"]
        },
        {
          "target_name": "flexconv_avx2",
          "type": "static_library",
          "sources": ["<!@(node scripts/gyp-sources.js avx2)"],
          "cflags_cc": ["-mavx2", "-mfma"]
        }
      ]
    }]
  ]
}
