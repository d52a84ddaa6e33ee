// MemoryBudget: named, aligned, zeroed reservations; active/peak/per-name figures; release on
// destruction and move; refusals whose message lists every reservation and how far over.
#include "rt/memory_budget.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace earshot::rt {
namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * 1024;

bool aligned_to(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

TEST(MemoryBudget, NamedReservationsAddUpPerName) {
  MemoryBudget budget(1 * MiB);
  Reservation a1 = budget.reserve("encoder.weights", 100);
  Reservation b = budget.reserve("kv_cache", 200);
  Reservation a2 = budget.reserve("encoder.weights", 50);
  EXPECT_EQ(a1.name(), "encoder.weights");
  EXPECT_EQ(a1.bytes(), 100u);
  EXPECT_EQ(budget.active(), 350u);
  EXPECT_EQ(budget.available(), 1 * MiB - 350);

  const auto names = budget.by_name();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names.at("encoder.weights").active, 150u);
  EXPECT_EQ(names.at("encoder.weights").count, 2u);
  EXPECT_EQ(names.at("kv_cache").active, 200u);
  EXPECT_EQ(names.at("kv_cache").count, 1u);
  EXPECT_NE(a1.data(), a2.data());
}

TEST(MemoryBudget, ReservationsAreAlignedZeroedAndWritable) {
  MemoryBudget budget(4 * MiB);
  Reservation plain = budget.reserve("plain", 1000);
  EXPECT_TRUE(aligned_to(plain.data(), 64)) << "default alignment is a cache line";
  Reservation small = budget.reserve("small", 10, 8);
  EXPECT_TRUE(aligned_to(small.data(), 64)) << "never less than a cache line";
  Reservation page = budget.reserve("page", 5000, 4096);
  EXPECT_TRUE(aligned_to(page.data(), 4096));
  Reservation huge = budget.reserve("huge-align", 100, 1 << 16);
  EXPECT_TRUE(aligned_to(huge.data(), 1 << 16));

  auto bytes = page.as<unsigned char>();
  ASSERT_EQ(bytes.size(), 5000u);
  EXPECT_TRUE(std::all_of(bytes.begin(), bytes.end(), [](unsigned char b) { return b == 0; }));
  std::fill(bytes.begin(), bytes.end(), 0xAB);  // ASan checks the whole block is ours

  struct alignas(128) Wide {
    float v[32];
  };
  Reservation wide = budget.reserve_array<Wide>("wide", 3);
  EXPECT_EQ(wide.bytes(), 3 * sizeof(Wide));
  EXPECT_TRUE(aligned_to(wide.data(), 128));
  EXPECT_EQ(wide.as<Wide>().size(), 3u);

  Reservation floats = budget.reserve_array<float>("floats", 7);
  EXPECT_EQ(floats.bytes(), 28u);
  EXPECT_EQ(floats.as<float>().size(), 7u);
}

TEST(MemoryBudget, BadAlignmentIsRefused) {
  MemoryBudget budget(1 * MiB);
  EXPECT_THROW(budget.reserve("odd", 64, 48), std::invalid_argument);
  EXPECT_EQ(budget.active(), 0u) << "a refused reservation leaves no trace";
  EXPECT_TRUE(aligned_to(budget.reserve("zero-means-default", 64, 0).data(), 64));
}

TEST(MemoryBudget, ZeroByteReservationHasAnAddress) {
  MemoryBudget budget(1 * KiB);
  Reservation empty = budget.reserve("nothing", 0);
  EXPECT_NE(empty.data(), nullptr);
  EXPECT_FALSE(empty.empty());
  EXPECT_EQ(empty.bytes(), 0u);
  EXPECT_EQ(budget.active(), 0u);
}

TEST(MemoryBudget, PeakRemembersTheHighWaterMark) {
  MemoryBudget budget(1 * MiB);
  {
    Reservation a = budget.reserve("stage.a", 300 * KiB);
    Reservation b = budget.reserve("stage.b", 200 * KiB);
    EXPECT_EQ(budget.peak(), 500 * KiB);
  }
  EXPECT_EQ(budget.active(), 0u);
  Reservation c = budget.reserve("stage.a", 100 * KiB);
  EXPECT_EQ(budget.active(), 100 * KiB);
  EXPECT_EQ(budget.peak(), 500 * KiB);
  const auto names = budget.by_name();
  EXPECT_EQ(names.at("stage.a").active, 100 * KiB);
  EXPECT_EQ(names.at("stage.a").peak, 300 * KiB);
  EXPECT_EQ(names.at("stage.b").active, 0u);
  EXPECT_EQ(names.at("stage.b").peak, 200 * KiB);
  EXPECT_EQ(names.at("stage.b").count, 0u);

  const std::string report = budget.report();
  EXPECT_NE(report.find("stage.a"), std::string::npos) << report;
  EXPECT_NE(report.find("300.0 KiB"), std::string::npos) << "per-name peak\n" << report;
  EXPECT_NE(report.find("500.0 KiB"), std::string::npos) << "total peak\n" << report;
  EXPECT_NE(report.find("budget 1.0 MiB"), std::string::npos) << report;
}

TEST(MemoryBudget, ReleasedOnDestructionResetAndMove) {
  MemoryBudget budget(1 * MiB);
  {
    Reservation scoped = budget.reserve("scoped", 1000);
    EXPECT_EQ(budget.active(), 1000u);
  }
  EXPECT_EQ(budget.active(), 0u) << "destroying a reservation returns its bytes";

  Reservation a = budget.reserve("a", 100);
  void* const block = a.data();
  Reservation moved(std::move(a));
  EXPECT_TRUE(a.empty()) << "moved-from reservations are empty";
  EXPECT_EQ(a.bytes(), 0u);
  EXPECT_EQ(moved.data(), block);
  EXPECT_EQ(moved.name(), "a");
  EXPECT_EQ(budget.active(), 100u) << "a move neither reserves nor releases";

  Reservation b = budget.reserve("b", 200);
  b = std::move(moved);  // b's own 200 bytes go back, it now owns a's 100
  EXPECT_EQ(budget.active(), 100u);
  EXPECT_EQ(b.data(), block);
  EXPECT_EQ(budget.by_name().at("b").active, 0u);

  b.reset();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(budget.active(), 0u);
  b.reset();  // twice is harmless
  EXPECT_EQ(budget.active(), 0u);
}

TEST(MemoryBudget, RefusalListsEveryReservationAndHowFarOver) {
  MemoryBudget budget(1 * MiB);
  Reservation weights = budget.reserve("whisper.weights", 600 * KiB);
  Reservation kv1 = budget.reserve("whisper.kv_cache", 150 * KiB);
  Reservation kv2 = budget.reserve("whisper.kv_cache", 150 * KiB);
  try {
    budget.reserve("whisper.encoder.workspace", 200 * KiB);
    FAIL() << "a reservation past the budget must be refused";
  } catch (const BudgetExceeded& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("reserving 'whisper.encoder.workspace' (200.0 KiB)"), std::string::npos)
        << message;
    EXPECT_NE(message.find("whisper.weights"), std::string::npos) << message;
    EXPECT_NE(message.find("600.0 KiB  (reserved)"), std::string::npos) << message;
    EXPECT_NE(message.find("whisper.kv_cache"), std::string::npos) << message;
    EXPECT_NE(message.find("300.0 KiB  (reserved, 2 blocks)"), std::string::npos) << message;
    EXPECT_NE(message.find("200.0 KiB  (requested)"), std::string::npos) << message;
    // 600 + 300 + 200 = 1100 KiB wanted of 1024 KiB: 76 KiB over.
    EXPECT_NE(message.find("total 1.1 MiB of a 1.0 MiB budget: 76.0 KiB over."), std::string::npos)
        << message;
  }
  EXPECT_EQ(budget.active(), 900 * KiB) << "a refusal changes nothing";
  EXPECT_EQ(budget.by_name().count("whisper.encoder.workspace"), 0u);
  EXPECT_NO_THROW(budget.reserve("whisper.encoder.workspace", 124 * KiB)) << "exactly fits";
}

TEST(MemoryBudget, ArrayOverflowIsRefused) {
  MemoryBudget budget(1 * MiB);
  try {
    budget.reserve_array<double>("absurd", static_cast<std::size_t>(-1) / 4);
    FAIL() << "count * sizeof(T) overflows";
  } catch (const BudgetExceeded& e) {
    EXPECT_NE(std::string(e.what()).find("'absurd'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(budget.active(), 0u);
}

TEST(MemoryBudget, CheckPlanRefusesAWholePlanUpFrontAndReservesNothing) {
  MemoryBudget budget(10 * MiB);
  Reservation ring = budget.reserve("audio.ring", 1 * MiB);

  EXPECT_NO_THROW(budget.check_plan({{"model.weights", 6 * MiB}, {"model.workspace", 3 * MiB}}))
      << "9 MiB free, 9 MiB planned";
  EXPECT_EQ(budget.active(), 1 * MiB) << "checking a plan reserves nothing";

  const std::vector<PlanItem> plan = {{"htdemucs.weights", 7 * MiB},
                                      {"htdemucs.workspace", 2 * MiB + 512 * KiB},
                                      {"htdemucs.overlap_add", 512 * KiB}};
  try {
    budget.check_plan(plan);
    FAIL() << "10 MiB planned with 9 MiB free must be refused";
  } catch (const BudgetExceeded& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("does not fit"), std::string::npos) << message;
    EXPECT_NE(message.find("audio.ring"), std::string::npos) << "active ones listed\n" << message;
    for (const auto& item : plan)
      EXPECT_NE(message.find(item.name), std::string::npos) << item.name << "\n" << message;
    EXPECT_NE(message.find("7.0 MiB  (requested)"), std::string::npos) << message;
    EXPECT_NE(message.find("2.5 MiB  (requested)"), std::string::npos) << message;
    EXPECT_NE(message.find("512.0 KiB  (requested)"), std::string::npos) << message;
    EXPECT_NE(message.find("total 11.0 MiB of a 10.0 MiB budget: 1.0 MiB over."), std::string::npos)
        << message;
  }
  EXPECT_EQ(budget.active(), 1 * MiB);

  // A plan whose sizes overflow when summed is refused, not wrapped around to "fits".
  EXPECT_THROW(budget.check_plan({{"a", static_cast<std::size_t>(-1)}, {"b", 2 * MiB}}),
               BudgetExceeded);
}

TEST(MemoryBudget, ConcurrentReserveAndReleaseKeepTheBooks) {
  MemoryBudget budget(64 * MiB);
  auto churn = [&](const char* name) {
    for (int i = 0; i < 2000; ++i) {
      Reservation r = budget.reserve(name, 1000 + i % 7);
      r.as<char>()[0] = 1;
    }
  };
  std::thread t1(churn, "worker.1"), t2(churn, "worker.2");
  t1.join();
  t2.join();
  EXPECT_EQ(budget.active(), 0u);
  EXPECT_LE(budget.peak(), 2u * 1006);
  EXPECT_GE(budget.peak(), 1000u);
}

TEST(FormatBytes, PicksAReadableUnit) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(1536 * 1024), "1.5 MiB");
  EXPECT_EQ(format_bytes(3ull << 30), "3.00 GiB");
}

}  // namespace
}  // namespace earshot::rt
