# Build options shared by every target: warnings, sanitizers, native code, ccache.
option(EARSHOT_BUILD_TESTS "Build the GoogleTest suites" ON)
option(EARSHOT_BUILD_BENCH "Build the Google Benchmark programs" ON)
option(EARSHOT_NATIVE "Compile for the build machine's CPU (-march=native)" ON)
option(EARSHOT_FUZZ "Build libFuzzer targets (needs clang)" OFF)
set(EARSHOT_SANITIZE "" CACHE STRING "Sanitizers: '', 'address' (ASan+UBSan) or 'thread' (TSan)")
set(EARSHOT_FIXTURES_DIR "${PROJECT_SOURCE_DIR}/../shared/fixtures"
    CACHE PATH "Golden reference fixtures (../shared/fixtures beside the checkout)")

find_program(EARSHOT_CCACHE ccache)
if(EARSHOT_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${EARSHOT_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${EARSHOT_CCACHE})
endif()

# One interface target carries the project-wide flags so every target opts in the same way.
add_library(earshot_flags INTERFACE)
target_compile_options(earshot_flags INTERFACE -Wall -Wextra)
# Sources silence GCC-only false positives with `#pragma GCC diagnostic ignored
# "-Wmaybe-uninitialized"`; clang (the fuzz build) does not know that group and would say so.
target_compile_options(earshot_flags INTERFACE $<$<CXX_COMPILER_ID:Clang>:-Wno-unknown-warning-option>)
target_include_directories(earshot_flags INTERFACE ${PROJECT_SOURCE_DIR})
if(EARSHOT_NATIVE)
  target_compile_options(earshot_flags INTERFACE -march=native)
endif()
# Eigen: no heap allocation surprises hidden behind asserts in release; keep its
# multithreading off, threads are ours to manage.
target_compile_definitions(earshot_flags INTERFACE EIGEN_DONT_PARALLELIZE)

if(EARSHOT_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # GCC 12's flow analysis misreads the instrumented code: it reports the undefined first
  # operand of its own AVX-512 intrinsics headers (`__Y` in avx512fintrin.h) and std::function
  # inside <regex> as uninitialized. Those warnings appear only in this build and only in
  # system headers, so they are switched off here rather than in every source.
  add_compile_options($<$<CXX_COMPILER_ID:GNU>:-Wno-uninitialized> $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  add_link_options(-fsanitize=address,undefined)
elseif(EARSHOT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(EARSHOT_FUZZ)
  # Coverage instrumentation for everything the fuzzers reach; the fuzz targets add the driver.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(NOT EARSHOT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "EARSHOT_SANITIZE must be '', 'address' or 'thread'")
endif()

# earshot_glob_library(<target> <dir>): a static library of <dir>/*.cpp, or an interface
# library while the folder holds only headers.
function(earshot_glob_library target dir)
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  if(sources)
    add_library(${target} STATIC ${sources})
    set(${target}_VISIBILITY PUBLIC PARENT_SCOPE)
  else()
    add_library(${target} INTERFACE)
    set(${target}_VISIBILITY INTERFACE PARENT_SCOPE)
  endif()
endfunction()
