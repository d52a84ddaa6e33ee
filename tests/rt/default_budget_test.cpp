#include "rt/default_budget.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace earshot::rt {
namespace {

TEST(DefaultBudget, IsTheGivenShareOfPhysicalMemory) {
  const double memory =
      static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  ASSERT_GT(memory, 0.0);
  EXPECT_NEAR(static_cast<double>(default_budget_bytes(0.5)), memory / 2, 1.0);
  EXPECT_NEAR(static_cast<double>(default_budget_bytes(0.75)), memory * 0.75, 1.0);
}

}  // namespace
}  // namespace earshot::rt
