# Third-party libraries, all from Debian packages installed by scripts/setup.sh.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
pkg_check_modules(SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(SOXR REQUIRED IMPORTED_TARGET soxr)
pkg_check_modules(JACK REQUIRED IMPORTED_TARGET jack)
pkg_check_modules(PORTAUDIO REQUIRED IMPORTED_TARGET portaudio-2.0)

# readerwriterqueue is header-only; find its include directory.
find_path(READERWRITERQUEUE_INCLUDE_DIR readerwriterqueue/readerwriterqueue.h REQUIRED)
add_library(earshot_readerwriterqueue INTERFACE)
target_include_directories(earshot_readerwriterqueue SYSTEM INTERFACE ${READERWRITERQUEUE_INCLUDE_DIR})

# FFTW (single precision): any transform length (Whisper's n_fft is 400), plans made once.
pkg_check_modules(FFTW3F REQUIRED IMPORTED_TARGET fftw3f)

if(EARSHOT_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(EARSHOT_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
