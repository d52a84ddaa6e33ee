#include "models/htdemucs/separator.hpp"

#include "models/core/json_file.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace earshot::htdemucs {

ModelBag ModelBag::load(const std::string& dir, rt::MemoryBudget& budget, rt::Parallel* parallel) {
  namespace fs = std::filesystem;
  const fs::path config_path = fs::path(dir) / "config.json";
  const auto root = models::read_json_file(config_path);
  ModelBag bag;
  bag.is_bag = root.is_object() && root.contains("bag");
  if (!bag.is_bag) {
    bag.models.push_back(HTDemucs::load(dir, budget, "htdemucs", nullptr, parallel));
    bag.weights.assign(1, std::vector<float>(bag.models[0]->num_sources(), 1.0f));
    return bag;
  }
  const std::string where = config_path.string() + " bag";
  const auto spec = models::json_get<nlohmann::json>(root, "bag", config_path.string());
  const auto names = models::json_get<std::vector<std::string>>(spec, "models", where);
  if (names.empty()) throw models::ConfigError(where + ": no models");
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty() || names[i].find("..") != std::string::npos)
      throw models::ConfigError(where + ": bad model directory '" + names[i] + "'");
    // Members run one after the other, so they share one activation workspace.
    std::shared_ptr<HTDemucsWorkspace> shared;
    if (!bag.models.empty()) shared = bag.models.front()->workspace();
    bag.models.push_back(HTDemucs::load((fs::path(dir) / names[i]).string(), budget,
                                        "htdemucs/" + names[i], shared, parallel));
  }
  const auto& first = bag.models.front()->config();
  for (const auto& m : bag.models) {
    const auto& c = m->config();
    if (c.sources != first.sources || c.samplerate != first.samplerate ||
        c.audio_channels != first.audio_channels || m->segment_length() != bag.segment_length())
      throw models::ConfigError(where +
                                ": the models disagree on sources, sample rate, "
                                "channels or segment");
  }
  const int S = bag.num_sources();
  if (spec.contains("weights")) {
    bag.weights = models::json_get<std::vector<std::vector<float>>>(spec, "weights", where);
    if (bag.weights.size() != bag.models.size())
      throw models::ConfigError(where + ": one weight list per model expected");
    for (const auto& w : bag.weights)
      if (static_cast<int>(w.size()) != S)
        throw models::ConfigError(where + ": one weight per source expected");
  } else {
    bag.weights.assign(bag.models.size(), std::vector<float>(S, 1.0f));
  }
  for (int s = 0; s < S; ++s) {
    float total = 0.0f;
    for (const auto& w : bag.weights) total += w[s];
    if (!(total > 0.0f))
      throw models::ConfigError(where + ": source " + first.sources[s] + " has no weight");
  }
  return bag;
}

ChunkedSeparator::ChunkedSeparator(ModelBag& bag, std::int64_t total_frames,
                                   SeparatorOptions options, rt::MemoryBudget& budget)
    : bag_(bag),
      sources_(bag.num_sources()),
      channels_(bag.audio_channels()),
      total_(total_frames) {
  segment_ = options.segment > 0 ? options.segment : bag.segment_length();
  if (segment_ > bag.segment_length())
    throw std::invalid_argument("segment of " + std::to_string(segment_) +
                                " samples is longer than the model's training segment (" +
                                std::to_string(bag.segment_length()) + ")");
  if (!(options.overlap >= 0.0 && options.overlap < 1.0))
    throw std::invalid_argument("overlap must be in [0, 1)");
  if (total_ == 0 || total_ < kUnknownLength)
    throw std::invalid_argument("nothing to separate: the input is empty");
  // apply_model: stride = int((1 - overlap) * segment_length), in double precision.
  stride_ = static_cast<std::int64_t>((1.0 - options.overlap) * static_cast<double>(segment_));
  if (stride_ < 1) throw std::invalid_argument("overlap leaves no stride");
  chunks_ = total_ >= 0 ? (total_ + stride_ - 1) / stride_ : -1;
  // Input kept: one padded segment, plus (length unknown) the half segment of left context a
  // chunk that turns out to be short may need.
  in_capacity_ = segment_ + segment_ / 2 + 1;

  const std::string name = "htdemucs/separator";
  const auto seg = static_cast<std::size_t>(segment_);
  const auto acc_len = static_cast<std::size_t>(segment_ + stride_);
  const std::size_t planes = static_cast<std::size_t>(sources_) * channels_;
  in_ = budget.reserve_array<float>(name, channels_ * static_cast<std::size_t>(in_capacity_));
  chunk_in_ = budget.reserve_array<float>(name, channels_ * seg);
  chunk_out_ = budget.reserve_array<float>(name, planes * seg);
  weight_ = budget.reserve_array<float>(name, seg);
  acc_ = budget.reserve_array<float>(name, bag.models.size() * planes * acc_len);
  acc_w_ = budget.reserve_array<float>(name, acc_len);
  final_ = budget.reserve_array<float>(name, planes * static_cast<std::size_t>(stride_));

  // Triangle: 1..seg//2 then seg - seg//2 down to 1, divided by its peak in float32.
  float* w = weight_.as<float>().data();
  const std::int64_t half = segment_ / 2;
  const auto peak = static_cast<float>(segment_ - half);
  for (std::int64_t i = 0; i < segment_; ++i) {
    const std::int64_t v = i < half ? i + 1 : segment_ - i;
    w[i] = static_cast<float>(v) / peak;
  }
}

ChunkedSeparator::ChunkPlan ChunkedSeparator::plan(std::int64_t k) const {
  // With the length still unknown only full chunks are planned (process() checks the input
  // reaches offset + segment, so the chunk is full whatever the final length).
  ChunkPlan p;
  p.offset = k * stride_;
  p.length = total_ >= 0 ? std::min(segment_, total_ - p.offset) : segment_;
  const std::int64_t delta = segment_ - p.length;
  p.start = p.offset - delta / 2;
  return p;
}

std::int64_t ChunkedSeparator::frames_wanted() const {
  if (done()) return 0;
  const ChunkPlan p = plan(next_chunk_);
  const std::int64_t need_end =
      total_ >= 0 ? std::min(total_, p.start + segment_) : p.start + segment_;
  return std::max<std::int64_t>(0, need_end - (in_base_ + in_count_));
}

void ChunkedSeparator::finish() {
  if (total_ >= 0) return;
  total_ = in_base_ + in_count_;
  if (total_ == 0) throw std::invalid_argument("nothing to separate: the input is empty");
  chunks_ = (total_ + stride_ - 1) / stride_;
}

void ChunkedSeparator::push(const float* interleaved, std::int64_t frames) {
  if (frames < 0 || frames > frames_wanted())
    throw std::logic_error("ChunkedSeparator::push: more frames than wanted");
  if (in_count_ + frames > in_capacity_) throw std::logic_error("ChunkedSeparator: input overflow");
  float* in = in_.as<float>().data();
  for (std::int64_t t = 0; t < frames; ++t)
    for (int c = 0; c < channels_; ++c)
      in[c * in_capacity_ + in_count_ + t] = interleaved[t * channels_ + c];
  in_count_ += frames;
}

std::int64_t ChunkedSeparator::process() {
  if (done()) throw std::logic_error("ChunkedSeparator::process: all chunks done");
  if (frames_wanted() > 0) throw std::logic_error("ChunkedSeparator::process: input missing");
  const ChunkPlan p = plan(next_chunk_);
  const int S = sources_, C = channels_;
  const std::int64_t seg = segment_, acc_len = segment_ + stride_;
  const float* in = in_.as<float>().data();
  float* chunk = chunk_in_.as<float>().data();
  float* chunk_out = chunk_out_.as<float>().data();
  const float* w = weight_.as<float>().data();

  // The padded segment: real samples where the song has them, zeros past its ends.
  for (int c = 0; c < C; ++c) {
    for (std::int64_t i = 0; i < seg; ++i) {
      const std::int64_t pos = p.start + i;
      const bool inside = pos >= 0 && (total_ < 0 || pos < total_);
      chunk[c * seg + i] = inside ? in[c * in_capacity_ + (pos - in_base_)] : 0.0f;
    }
  }
  // Each model: forward, centre-trim to the chunk, weighted accumulation at the offset.
  const std::int64_t trim = (seg - p.length) / 2;
  float* accw = acc_w_.as<float>().data();
  for (std::size_t m = 0; m < bag_.models.size(); ++m) {
    bag_.models[m]->forward(chunk, seg, chunk_out);
    float* acc = acc_.as<float>().data() + m * static_cast<std::size_t>(S * C) * acc_len;
    for (int plane = 0; plane < S * C; ++plane) {
      const float* src = chunk_out + plane * seg + trim;
      float* dst = acc + plane * acc_len;
      for (std::int64_t i = 0; i < p.length; ++i) dst[i] += w[i] * src[i];
    }
  }
  for (std::int64_t i = 0; i < p.length; ++i) accw[i] += w[i];

  // Frames before the next chunk's offset are final.
  ++next_chunk_;
  const std::int64_t final_end = done() ? total_ : plan(next_chunk_).offset;
  out_start_ = p.offset;
  out_count_ = final_end - p.offset;
  float* fin = final_.as<float>().data();
  for (int s = 0; s < S; ++s) {
    float total_weight = 0.0f;
    for (const auto& bw : bag_.weights) total_weight += bw[s];
    for (int c = 0; c < C; ++c) {
      float* dst = fin + (s * C + c) * stride_;
      for (std::int64_t i = 0; i < out_count_; ++i) {
        // BagOfModels: estimates = sum_m (out_m * w_m[s]), then / totals[s]. A single model
        // is apply_model's plain out / sum_weight.
        float est = 0.0f;
        for (std::size_t m = 0; m < bag_.models.size(); ++m) {
          const float* acc =
              acc_.as<float>().data() + m * static_cast<std::size_t>(S * C) * acc_len;
          const float v = acc[(s * C + c) * acc_len + i] / accw[i];
          if (!bag_.is_bag)
            est = v;
          else
            est = m == 0 ? v * bag_.weights[m][s] : est + v * bag_.weights[m][s];
        }
        dst[i] = bag_.is_bag ? est / total_weight : est;
      }
    }
  }
  // Slide the output accumulators and drop input no later chunk reads.
  const std::int64_t shift = out_count_;
  for (std::size_t m = 0; m < bag_.models.size(); ++m) {
    float* acc = acc_.as<float>().data() + m * static_cast<std::size_t>(S * C) * acc_len;
    for (int plane = 0; plane < S * C; ++plane) {
      float* row = acc + plane * acc_len;
      std::copy(row + shift, row + acc_len, row);
      std::fill(row + acc_len - shift, row + acc_len, 0.0f);
    }
  }
  std::copy(accw + shift, accw + acc_len, accw);
  std::fill(accw + acc_len - shift, accw + acc_len, 0.0f);
  if (!done()) {
    const std::int64_t next_offset = next_chunk_ * stride_;
    const std::int64_t keep_from = std::max<std::int64_t>(
        0, total_ >= 0 ? plan(next_chunk_).start : next_offset - segment_ / 2);
    const std::int64_t drop = std::clamp<std::int64_t>(keep_from - in_base_, 0, in_count_);
    float* inw = in_.as<float>().data();
    for (int c = 0; c < C; ++c)
      std::copy(inw + c * in_capacity_ + drop, inw + c * in_capacity_ + in_count_,
                inw + c * in_capacity_);
    in_base_ += drop;
    in_count_ -= drop;
  }
  return out_count_;
}

const float* ChunkedSeparator::output(int s, int c) const {
  return final_.as<float>().data() + (static_cast<std::int64_t>(s) * channels_ + c) * stride_;
}

}  // namespace earshot::htdemucs
