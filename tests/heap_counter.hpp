// Counts every heap call of the whole test process, on every thread: for tests that prove a
// model's steady state allocates nothing, thread-team workers included. (The audio-thread guard,
// earshot_rt_guard, counts only on threads marked as audio threads.)
//
// Link the object library `earshot_heap_counter` (LIBS in earshot_add_test_dir); a test
// executable cannot link it together with earshot_rt_guard, which interposes malloc as well.
// Counted at malloc itself, since Eigen allocates with malloc rather than operator new: plain
// builds interpose the malloc family and free and forward to glibc; under AddressSanitizer
// (which owns malloc) its allocation hooks count instead.
#pragma once

namespace earshot::test {

long heap_allocations();  // malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign
long heap_frees();        // free of a non-null pointer

}  // namespace earshot::test
