// Backing the decoder's weights with 2 MiB pages.
//
// A streaming push at a few frames per push reads all ~30 MB of decoder weights, so it is bound
// by how fast one core streams them in. With 4 KiB pages the hardware prefetchers stop at every
// page boundary and the TLB misses every 4 KiB: on the 2-core Zen 4 dev machine a single core
// read 256 MB at 16 GB/s with 4 KiB pages and 29 GB/s with 2 MiB pages (30 MB cyclic: 20 vs
// 34 GB/s). The weights are written at load (the budget zero-fills its reservations), so they
// are collapsed into huge pages afterwards (MADV_COLLAPSE, Linux 6.1+). Best effort: where the
// kernel or the configuration refuses, nothing changes but the speed. A collapsed page is
// resident in full, so the edges of each tensor may add up to 2 MiB of RSS each.
#pragma once

#include <cstddef>

namespace earshot::encodec {

// Asks for [data, data + bytes) to be backed by 2 MiB pages: every aligned 2 MiB page it touches
// that the kernel accepts. Returns the bytes of the range so backed (0 where unsupported).
std::size_t prefer_huge_pages(const void* data, std::size_t bytes);

}  // namespace earshot::encodec
