// Test-only interposer behind rt::guard (see rt/audio_thread_guard.hpp): every allocation,
// deallocation and mutex lock made on a thread marked as the audio thread is recorded.
//
// Linked as an OBJECT library into test executables only, never into the earshot library or
// binary: defining malloc in an executable replaces it for the whole process (glibc supports
// this and routes its own internal allocations through the replacement), which is exactly what
// a test wants and what production must not have.
//
// Two ways to see allocations:
// - plain builds: this file defines the malloc family and every operator new/delete, checks the
//   thread mark, then forwards to glibc's own implementation (__libc_malloc and friends, which
//   glibc exports for this purpose);
// - ASan/TSan builds: the sanitizer runtime owns malloc and operator new, and a second
//   definition would bypass its bookkeeping. Its allocator calls the hooks installed with
//   __sanitizer_install_malloc_and_free_hooks on every allocation and deallocation instead.
// pthread_mutex_lock is interposed the same way in every build: this definition checks the mark
// and forwards to the next definition in link order (dlsym(RTLD_NEXT)), which is glibc's, or
// the sanitizer's interceptor (so TSan still sees every lock).
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#include "rt/audio_thread_guard.hpp"

#include "tests/rt/guard/sanitizers.hpp"

// The sanitizer runtime owns malloc: watch it through its hooks instead of replacing it.
#if defined(EARSHOT_ASAN) || defined(EARSHOT_TSAN)
#define EARSHOT_GUARD_SANITIZER_HOOKS 1
#endif

namespace {

using earshot::rt::is_audio_thread;
using earshot::rt::guard::record_violation;

inline void check(const char* function) noexcept {
  if (is_audio_thread()) [[unlikely]]
    record_violation(function);
}

// A sanitizer runtime's interceptor for `name`, when this is a sanitizer build. A static runtime
// (clang's default) puts the interceptor in this executable, where this file's definition
// replaces it at link time, so RTLD_NEXT would skip it and go straight to glibc: forward to
// the runtime's own __interceptor_ name instead. A shared runtime (GCC's) exports it too.
#ifdef EARSHOT_GUARD_SANITIZER_HOOKS
extern "C" {
int __interceptor_pthread_mutex_lock(pthread_mutex_t*) __attribute__((weak));
void* __interceptor_aligned_alloc(std::size_t, std::size_t) __attribute__((weak));
void* __interceptor_memalign(std::size_t, std::size_t) __attribute__((weak));
int __interceptor_posix_memalign(void**, std::size_t, std::size_t) __attribute__((weak));
void* __interceptor_valloc(std::size_t) __attribute__((weak));
void* __interceptor_pvalloc(std::size_t) __attribute__((weak));
}
#define EARSHOT_INTERCEPTOR(name) (&__interceptor_##name)
#else
#define EARSHOT_INTERCEPTOR(name) nullptr
#endif

// The next definition of `name` after this executable's own: the sanitizer's interceptor (see
// above) or else the C library's. Resolved before main by install_guard(), while no thread is
// marked.
template <typename Fn>
Fn next_definition(std::atomic<Fn>& slot, const char* name, Fn interceptor) noexcept {
  Fn fn = slot.load(std::memory_order_acquire);
  if (fn == nullptr) [[unlikely]] {
    fn = interceptor != nullptr ? interceptor : reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    if (fn == nullptr) std::abort();  // nothing to forward to: nothing sensible to do
    slot.store(fn, std::memory_order_release);
  }
  return fn;
}

// --- pthread_mutex_lock, every build ---

using MutexLockFn = int (*)(pthread_mutex_t*);
std::atomic<MutexLockFn> g_real_mutex_lock{nullptr};
MutexLockFn real_mutex_lock() noexcept {
  return next_definition<MutexLockFn>(g_real_mutex_lock, "pthread_mutex_lock",
                                      EARSHOT_INTERCEPTOR(pthread_mutex_lock));
}

// --- aligned allocation under TSan ---
// GCC 12's TSan runtime runs the allocator hooks for malloc/calloc/realloc and operator new,
// but not for aligned_alloc, posix_memalign, memalign, valloc and pvalloc. Those five are
// interposed in front of its interceptors instead (ASan runs the hooks for all of them).
#if defined(EARSHOT_TSAN)
#define EARSHOT_GUARD_FORWARD_ALIGNED 1
using AlignedAllocFn = void* (*)(std::size_t, std::size_t);
using PosixMemalignFn = int (*)(void**, std::size_t, std::size_t);
using VallocFn = void* (*)(std::size_t);
std::atomic<AlignedAllocFn> g_real_aligned_alloc{nullptr};
std::atomic<AlignedAllocFn> g_real_memalign{nullptr};
std::atomic<PosixMemalignFn> g_real_posix_memalign{nullptr};
std::atomic<VallocFn> g_real_valloc{nullptr};
std::atomic<VallocFn> g_real_pvalloc{nullptr};
AlignedAllocFn real_aligned_alloc() noexcept {
  return next_definition<AlignedAllocFn>(g_real_aligned_alloc, "aligned_alloc",
                                         EARSHOT_INTERCEPTOR(aligned_alloc));
}
AlignedAllocFn real_memalign() noexcept {
  return next_definition<AlignedAllocFn>(g_real_memalign, "memalign",
                                         EARSHOT_INTERCEPTOR(memalign));
}
PosixMemalignFn real_posix_memalign() noexcept {
  return next_definition<PosixMemalignFn>(g_real_posix_memalign, "posix_memalign",
                                          EARSHOT_INTERCEPTOR(posix_memalign));
}
VallocFn real_valloc() noexcept {
  return next_definition<VallocFn>(g_real_valloc, "valloc", EARSHOT_INTERCEPTOR(valloc));
}
VallocFn real_pvalloc() noexcept {
  return next_definition<VallocFn>(g_real_pvalloc, "pvalloc", EARSHOT_INTERCEPTOR(pvalloc));
}
void resolve_aligned() noexcept {
  real_aligned_alloc();
  real_memalign();
  real_posix_memalign();
  real_valloc();
  real_pvalloc();
}
#endif

#ifdef EARSHOT_GUARD_SANITIZER_HOOKS
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*));

void on_sanitizer_malloc(const volatile void*, std::size_t) {
  check("malloc/new (sanitizer hook)");
}
void on_sanitizer_free(const volatile void* ptr) {
  if (ptr != nullptr) check("free/delete (sanitizer hook)");
}
#endif

// Before main, on the main thread: resolve the forwarding target while nothing is marked, and
// announce what this build detects.
__attribute__((constructor)) void install_guard() {
  real_mutex_lock();
#ifdef EARSHOT_GUARD_FORWARD_ALIGNED
  resolve_aligned();
#endif
#ifdef EARSHOT_GUARD_SANITIZER_HOOKS
  __sanitizer_install_malloc_and_free_hooks(on_sanitizer_malloc, on_sanitizer_free);
#endif
  earshot::rt::guard::set_capabilities(earshot::rt::guard::kDetectsAllocation |
                                       earshot::rt::guard::kDetectsMutexLock);
}

}  // namespace

extern "C" int pthread_mutex_lock(pthread_mutex_t* mutex) {
  check("pthread_mutex_lock");
  return real_mutex_lock()(mutex);
}

#ifdef EARSHOT_GUARD_FORWARD_ALIGNED
extern "C" {
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  check("aligned_alloc");
  return real_aligned_alloc()(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
  check("memalign");
  return real_memalign()(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  check("posix_memalign");
  return real_posix_memalign()(out, alignment, size);
}
void* valloc(std::size_t size) noexcept {
  check("valloc");
  return real_valloc()(size);
}
void* pvalloc(std::size_t size) noexcept {
  check("pvalloc");
  return real_pvalloc()(size);
}
}  // extern "C"
#endif

#ifndef EARSHOT_GUARD_SANITIZER_HOOKS

// --- the malloc family: glibc's implementation under our checks ---

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void __libc_free(void* ptr);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);

void* malloc(std::size_t size) noexcept {
  check("malloc");
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  check("calloc");
  return __libc_calloc(count, size);
}
void* realloc(void* ptr, std::size_t size) noexcept {
  check("realloc");
  return __libc_realloc(ptr, size);
}
void* reallocarray(void* ptr, std::size_t count, std::size_t size) noexcept {
  check("reallocarray");
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_realloc(ptr, bytes);
}
void free(void* ptr) noexcept {
  if (ptr == nullptr) return;  // free(NULL) does nothing, so it is no violation
  check("free");
  __libc_free(ptr);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  check("aligned_alloc");
  return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
  check("memalign");
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  check("posix_memalign");
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0)
    return EINVAL;
  void* ptr = __libc_memalign(alignment, size);
  if (ptr == nullptr) return ENOMEM;
  *out = ptr;
  return 0;
}
void* valloc(std::size_t size) noexcept {
  check("valloc");
  return __libc_valloc(size);
}
void* pvalloc(std::size_t size) noexcept {
  check("pvalloc");
  return __libc_pvalloc(size);
}
}  // extern "C"

// --- operator new / delete, every replaceable form ---

namespace {

// The standard's loop: try, call the new_handler if there is one, else throw.
void* allocate_or_throw(std::size_t size, std::size_t alignment) {
  if (size == 0) size = 1;
  for (;;) {
    void* ptr = alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ ? __libc_malloc(size)
                                                              : __libc_memalign(alignment, size);
    if (ptr != nullptr) return ptr;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}
void* allocate_or_null(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate_or_throw(size, alignment);
  } catch (...) {
    return nullptr;
  }
}
void deallocate(const char* function, void* ptr) noexcept {
  if (ptr == nullptr) return;
  check(function);
  __libc_free(ptr);
}

constexpr std::size_t kDefault = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

}  // namespace

void* operator new(std::size_t size) {
  check("operator new");
  return allocate_or_throw(size, kDefault);
}
void* operator new[](std::size_t size) {
  check("operator new[]");
  return allocate_or_throw(size, kDefault);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  check("operator new");
  return allocate_or_null(size, kDefault);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  check("operator new[]");
  return allocate_or_null(size, kDefault);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  check("operator new");
  return allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  check("operator new[]");
  return allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  check("operator new");
  return allocate_or_null(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  check("operator new[]");
  return allocate_or_null(size, static_cast<std::size_t>(alignment));
}

void operator delete(void* ptr) noexcept {
  deallocate("operator delete", ptr);
}
void operator delete[](void* ptr) noexcept {
  deallocate("operator delete[]", ptr);
}
void operator delete(void* ptr, const std::nothrow_t&) noexcept {
  deallocate("operator delete", ptr);
}
void operator delete[](void* ptr, const std::nothrow_t&) noexcept {
  deallocate("operator delete[]", ptr);
}
void operator delete(void* ptr, std::size_t) noexcept {
  deallocate("operator delete", ptr);
}
void operator delete[](void* ptr, std::size_t) noexcept {
  deallocate("operator delete[]", ptr);
}
void operator delete(void* ptr, std::align_val_t) noexcept {
  deallocate("operator delete", ptr);
}
void operator delete[](void* ptr, std::align_val_t) noexcept {
  deallocate("operator delete[]", ptr);
}
void operator delete(void* ptr, std::align_val_t, const std::nothrow_t&) noexcept {
  deallocate("operator delete", ptr);
}
void operator delete[](void* ptr, std::align_val_t, const std::nothrow_t&) noexcept {
  deallocate("operator delete[]", ptr);
}
void operator delete(void* ptr, std::size_t, std::align_val_t) noexcept {
  deallocate("operator delete", ptr);
}
void operator delete[](void* ptr, std::size_t, std::align_val_t) noexcept {
  deallocate("operator delete[]", ptr);
}

#endif  // !EARSHOT_GUARD_SANITIZER_HOOKS
