// Backing large buffers with 2 MiB pages.
//
// Inference streams its weights from memory at every step (a Whisper token reads 75-135 MB, an
// EnCodec streaming frame 30 MB), so it runs at the speed one or two cores read memory. With
// 4 KiB pages the hardware prefetchers stop at every page boundary and every 4 KiB costs a TLB
// miss: on the 2-core Zen 4 dev machine one core read 256 MB at 16 GB/s from 4 KiB pages and at
// 29 GB/s from 2 MiB pages. The memory budget therefore asks for huge pages on every large
// reservation before it first touches it (Linux transparent huge pages in "madvise" or
// "always" mode). Best effort: where the kernel refuses, nothing changes but the speed.
#pragma once

#include <cstddef>

namespace earshot::rt {

// Reservations of at least this many bytes are aligned to 2 MiB and advised as huge pages
// (smaller ones cannot hold a whole huge page; models that keep many small matrices gain by
// reserving them as one block).
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
inline constexpr std::size_t kHugePageMinReservation = kHugePageBytes;

// Advises the whole 2 MiB pages inside [data, data + bytes) as huge pages, to be used when they
// are first touched. Returns the bytes advised (0: none, or the kernel said no).
std::size_t advise_huge_pages(void* data, std::size_t bytes);

// Converts the whole 2 MiB pages inside an already written range into huge pages now
// (MADV_COLLAPSE, Linux 6.1+), e.g. for memory that was filled before it was advised.
// Returns the bytes collapsed (0 where the kernel cannot).
std::size_t collapse_huge_pages(const void* data, std::size_t bytes);

// Bytes of [data, data + bytes) currently backed by huge pages, from /proc/self/smaps
// (for tests and diagnostics; 0 where it cannot tell).
std::size_t huge_page_bytes_in(const void* data, std::size_t bytes);

}  // namespace earshot::rt
