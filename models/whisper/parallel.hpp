// The Whisper kernels take an rt::Parallel* (see rt/thread_team.hpp); these names keep the
// model code short.
#pragma once

#include "rt/thread_team.hpp"

namespace earshot::models::whisper {

using rt::FunctionRef;
using rt::Parallel;
using rt::parallel_for;
using rt::parallel_size;
using rt::ThreadTeam;

}  // namespace earshot::models::whisper
