// Marks the calling thread as the audio thread, from the first callback of every backend.
//
// DESIGN.md: the audio thread names itself `earshot-rt` in its first callback, so debuggers,
// `top -H` and the audio-thread guard (rt/audio_thread_guard.hpp) recognise it.
#pragma once

namespace earshot::rt {

// Real-time safe; cheap enough to call every callback, but backends call it once.
void mark_current_thread_as_audio() noexcept;

}  // namespace earshot::rt
