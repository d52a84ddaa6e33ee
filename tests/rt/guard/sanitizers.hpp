// Which sanitizer this translation unit is built with, for GCC (__SANITIZE_*__) and clang
// (__has_feature). Defines EARSHOT_ASAN / EARSHOT_TSAN to 1 when active.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define EARSHOT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define EARSHOT_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(EARSHOT_ASAN)
#define EARSHOT_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(EARSHOT_TSAN)
#define EARSHOT_TSAN 1
#endif
#endif
