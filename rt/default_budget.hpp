// The memory budget a command takes when the user gives none (--budget-mb).
#pragma once

#include <cstddef>

namespace earshot::rt {

// `fraction` of the machine's physical memory; 4 GiB where the system does not say how much
// it has.
std::size_t default_budget_bytes(double fraction);

}  // namespace earshot::rt
