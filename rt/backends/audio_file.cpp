#include "rt/backends/audio_file.hpp"

#include "rt/backends/audio_backend.hpp"

#include <sndfile.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace earshot::rt {

namespace {

constexpr std::size_t kReadChunkFrames = 4096;

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

int format_for(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".wav") return SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  if (ext == ".w64") return SF_FORMAT_W64 | SF_FORMAT_FLOAT;
  if (ext == ".rf64") return SF_FORMAT_RF64 | SF_FORMAT_FLOAT;
  if (ext == ".aif" || ext == ".aiff") return SF_FORMAT_AIFF | SF_FORMAT_FLOAT;
  if (ext == ".au") return SF_FORMAT_AU | SF_FORMAT_FLOAT;
  if (ext == ".caf") return SF_FORMAT_CAF | SF_FORMAT_FLOAT;
  if (ext == ".flac") return SF_FORMAT_FLAC | SF_FORMAT_PCM_24;
  if (ext == ".ogg") return SF_FORMAT_OGG | SF_FORMAT_VORBIS;
  throw BackendError("cannot write '" + path +
                     "': unknown audio extension (use .wav, .flac, .ogg, .aiff, .au, .caf, .w64 "
                     "or .rf64)");
}

}  // namespace

AudioFileReader::AudioFileReader(const std::string& path) : path_(path) {
  if (std::filesystem::is_directory(path))
    throw BackendError("cannot read audio file '" + path + "': it is a directory");
  SF_INFO info{};
  file_ = sf_open(path.c_str(), SFM_READ, &info);
  if (file_ == nullptr)
    throw BackendError("cannot read audio file '" + path + "': " + sf_strerror(nullptr));
  if (info.channels <= 0 || info.samplerate <= 0) {
    sf_close(file_);
    file_ = nullptr;
    throw BackendError("cannot read audio file '" + path + "': no channels or no sample rate");
  }
  file_rate_ = info.samplerate;
  channels_ = static_cast<std::uint32_t>(info.channels);
  file_frames_ = info.frames;
}

AudioFileReader::~AudioFileReader() {
  if (file_ != nullptr) sf_close(file_);
}

void AudioFileReader::prepare(double rate, std::size_t max_read_frames) {
  if (rate != file_rate_) {
    resampler_ = std::make_unique<StreamResampler>(file_rate_, rate, channels_);
    raw_.assign(kReadChunkFrames * channels_, 0.0f);
    const std::size_t most = max_read_frames + resampler_->max_output_frames(kReadChunkFrames);
    pending_.assign(most * channels_, 0.0f);
  }
}

std::size_t AudioFileReader::read_file(float* interleaved, std::size_t frames) {
  const sf_count_t got = sf_readf_float(file_, interleaved, static_cast<sf_count_t>(frames));
  if (got < 0 || (static_cast<std::size_t>(got) < frames && sf_error(file_) != SF_ERR_NO_ERROR))
    throw BackendError("error reading audio file '" + path_ + "': " + sf_strerror(file_));
  return static_cast<std::size_t>(got);
}

// Resampling path: move resampled frames into pending_ until it holds what a read needs.
void AudioFileReader::refill() {
  const std::size_t ch = channels_;
  // Compact pending_ so its free tail is as large as possible.
  if (pending_begin_ > 0) {
    std::memmove(pending_.data(), pending_.data() + pending_begin_ * ch,
                 (pending_end_ - pending_begin_) * ch * sizeof(float));
    pending_end_ -= pending_begin_;
    pending_begin_ = 0;
  }
  const std::size_t capacity = pending_.size() / ch;
  if (raw_begin_ == raw_end_ && !file_eof_) {
    raw_begin_ = 0;
    raw_end_ = read_file(raw_.data(), kReadChunkFrames);
    if (raw_end_ < kReadChunkFrames) file_eof_ = true;
  }
  if (raw_begin_ < raw_end_) {
    std::size_t consumed = 0;
    pending_end_ +=
        resampler_->process(raw_.data() + raw_begin_ * ch, raw_end_ - raw_begin_, consumed,
                            pending_.data() + pending_end_ * ch, capacity - pending_end_);
    raw_begin_ += consumed;
  } else if (file_eof_) {
    const std::size_t tail =
        resampler_->flush(pending_.data() + pending_end_ * ch, capacity - pending_end_);
    pending_end_ += tail;
    if (tail == 0) done_ = true;
  }
}

std::size_t AudioFileReader::read(float* interleaved, std::size_t frames) {
  if (done_) return 0;
  if (!resampler_) {
    const std::size_t got = read_file(interleaved, frames);
    if (got < frames) done_ = true;
    return got;
  }
  const std::size_t ch = channels_;
  std::size_t delivered = 0;
  while (delivered < frames) {
    if (pending_begin_ == pending_end_) {
      if (done_) break;
      refill();
      continue;
    }
    const std::size_t n = std::min(frames - delivered, pending_end_ - pending_begin_);
    std::memcpy(interleaved + delivered * ch, pending_.data() + pending_begin_ * ch,
                n * ch * sizeof(float));
    pending_begin_ += n;
    delivered += n;
  }
  return delivered;
}

AudioFileWriter::AudioFileWriter(const std::string& path, double rate, std::uint32_t channels)
    : path_(path), partial_path_(path + ".partial"), channels_(channels) {
  SF_INFO info{};
  info.samplerate = static_cast<int>(std::lround(rate));
  info.channels = static_cast<int>(channels);
  info.format = format_for(path);
  if (!sf_format_check(&info))
    throw BackendError("cannot write '" + path + "': this format does not support " +
                       std::to_string(channels) + " channels at " +
                       std::to_string(info.samplerate) + " Hz");
  file_ = sf_open(partial_path_.c_str(), SFM_WRITE, &info);
  if (file_ == nullptr) throw BackendError("cannot write '" + path + "': " + sf_strerror(nullptr));
}

AudioFileWriter::~AudioFileWriter() {
  if (file_ != nullptr) {
    sf_close(file_);
    std::remove(partial_path_.c_str());
  }
}

void AudioFileWriter::write(const float* interleaved, std::size_t frames) {
  if (frames == 0) return;
  const sf_count_t n = sf_writef_float(file_, interleaved, static_cast<sf_count_t>(frames));
  if (n != static_cast<sf_count_t>(frames))
    throw BackendError("error writing '" + path_ + "': " + sf_strerror(file_));
}

void AudioFileWriter::commit() {
  if (file_ == nullptr) return;
  const int close_error = sf_close(file_);
  file_ = nullptr;
  std::error_code ec;
  if (close_error != 0) {
    std::remove(partial_path_.c_str());
    throw BackendError("error closing '" + path_ + "': " + sf_error_number(close_error));
  }
  std::filesystem::rename(partial_path_, path_, ec);
  if (ec) {
    std::remove(partial_path_.c_str());
    throw BackendError("cannot move the finished file to '" + path_ + "': " + ec.message());
  }
}

}  // namespace earshot::rt
