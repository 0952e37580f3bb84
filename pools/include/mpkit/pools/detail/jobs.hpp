#pragma once

// The typed jobs behind ProcessPool/ThreadPool calls: the chunk runner that
// a worker executes (run_chunk), and the parent-side jobs that encode chunks
// and decode results (MapJob: map/starmap; ImapJob: imap/imap_unordered;
// SubmitJob: submit/apply_async). Owner-thread only (see pool_core.hpp).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mpkit/pools/codec.hpp"
#include "mpkit/pools/detail/pool_core.hpp"
#include "mpkit/pools/errors.hpp"

namespace mpkit::pools::detail {

/// A function the workers can call: a plain function pointer, or a lambda
/// without captures (an empty class; the worker makes its own).
template <class F>
concept PoolFunction = (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) ||
                       (std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F> &&
                        std::is_trivially_copyable_v<F>);

template <class F>
[[nodiscard]] std::uintptr_t function_word(F f) noexcept {
  if constexpr (std::is_pointer_v<F>) {
    return reinterpret_cast<std::uintptr_t>(f);  // the same address in every fork of this binary
  } else {
    (void)f;
    return 0;
  }
}
template <class F>
[[nodiscard]] F function_from(std::uintptr_t word) noexcept {
  if constexpr (std::is_pointer_v<F>) {
    return reinterpret_cast<F>(word);
  } else {
    (void)word;
    return F{};
  }
}

template <class R>
using Stored = std::conditional_t<std::is_void_v<R>, Unit, std::decay_t<R>>;

template <class F, class T, bool Star>
struct CallResult {
  using type = Stored<std::invoke_result_t<F&, const T&>>;
};
template <class F, class T>
struct CallResult<F, T, true> {
  using type = Stored<decltype(std::apply(std::declval<F&>(), std::declval<T&>()))>;
};
template <class F, class T, bool Star>
using CallResultT = typename CallResult<F, T, Star>::type;

/// The worker side of a chunk (a ChunkEntry): decode each argument, call,
/// encode the status byte and the result; a throw becomes a TaskError
/// message and the next item runs.
template <class F, class T, bool Star>
void run_chunk(std::uintptr_t fn, ByteReader& in, std::uint32_t count, ByteWriter& out,
               std::atomic<std::uint64_t>* stamp) {
  using R = CallResultT<F, T, Star>;
  F f = function_from<F>(fn);
  for (std::uint32_t i = 0; i < count; ++i) {
    T arg = Codec<T>::decode(in);
    if (stamp != nullptr) {
      // relaxed: a hint for the parent's timeout check
      stamp->store(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                  std::chrono::steady_clock::now().time_since_epoch())
                                                  .count()),
                   std::memory_order_relaxed);
    }
    const std::size_t mark = out.size();
    try {
      out.write_value(kItemValue);
      if constexpr (Star) {
        if constexpr (std::is_void_v<decltype(std::apply(f, arg))>) {
          std::apply(f, arg);
          Codec<R>::encode(out, R{});
        } else {
          Codec<R>::encode(out, std::apply(f, arg));
        }
      } else {
        if constexpr (std::is_void_v<std::invoke_result_t<F&, const T&>>) {
          std::invoke(f, std::as_const(arg));
          Codec<R>::encode(out, R{});
        } else {
          Codec<R>::encode(out, std::invoke(f, std::as_const(arg)));
        }
      }
    } catch (...) {
      out.truncate(mark);
      out.write_value(kItemError);
      Codec<std::string>::encode(out, describe_current_exception());
    }
  }
  if (stamp != nullptr) stamp->store(0, std::memory_order_relaxed);  // relaxed: as above
}

/// Decodes one item's outcome from a result payload.
template <class R>
[[nodiscard]] Outcome<R> decode_outcome(ByteReader& in) {
  const auto status = in.read_value<std::uint8_t>();
  if (status == kItemValue) return Outcome<R>(Codec<R>::decode(in));
  return Outcome<R>(std::make_exception_ptr(TaskError(Codec<std::string>::decode(in))));
}

/// map/starmap over a contiguous input the caller keeps alive for the call.
template <class F, class T, bool Star>
class MapJob final : public Job {
 public:
  using R = CallResultT<F, T, Star>;
  MapJob(F f, std::span<const T> inputs, std::size_t chunksize)
      : Job(&run_chunk<F, T, Star>, function_word(f)),
        inputs_(inputs),
        chunksize_(chunksize),
        chunks_((inputs.size() + chunksize - 1) / chunksize),
        results_(inputs.size()),
        delivered_(chunks_, false),
        remaining_(chunks_) {}

  std::optional<std::uint64_t> next_chunk() override {
    if (cancelled_ || next_ == chunks_) return std::nullopt;
    return next_++;
  }
  [[nodiscard]] bool exhausted() const override { return cancelled_ || next_ == chunks_; }
  std::uint32_t encode_chunk(std::uint64_t chunk, ByteWriter& out) override {
    if (cancelled_) throw PoolError("the call that made this task has returned");
    const auto [begin, end] = bounds(chunk);
    for (std::size_t i = begin; i < end; ++i) Codec<T>::encode(out, inputs_[i]);
    return static_cast<std::uint32_t>(end - begin);
  }
  void deliver(std::uint64_t chunk, std::uint32_t count, ByteReader& in) override {
    const auto [begin, end] = bounds(chunk);
    if (delivered_[chunk] || count != end - begin) return;
    std::size_t i = begin;
    try {
      for (; i < end; ++i) results_[i] = decode_outcome<R>(in);
    } catch (...) {
      for (; i < end; ++i) results_[i] = Outcome<R>(std::current_exception());
    }
    settle(chunk);
  }
  void fail(std::uint64_t chunk, const std::exception_ptr& error) override {
    if (delivered_[chunk]) return;
    const auto [begin, end] = bounds(chunk);
    for (std::size_t i = begin; i < end; ++i) results_[i] = Outcome<R>(error);
    settle(chunk);
  }
  [[nodiscard]] std::size_t first_index(std::uint64_t chunk) const override {
    return static_cast<std::size_t>(chunk) * chunksize_;
  }

  [[nodiscard]] bool done() const noexcept { return remaining_ == 0; }
  /// The call is leaving (returned or threw): stop issuing, forget the input.
  void cancel() noexcept { cancelled_ = true; }
  [[nodiscard]] std::vector<Outcome<R>>& results() noexcept { return results_; }

 private:
  [[nodiscard]] std::pair<std::size_t, std::size_t> bounds(std::uint64_t chunk) const noexcept {
    const std::size_t begin = static_cast<std::size_t>(chunk) * chunksize_;
    return {begin, std::min(begin + chunksize_, inputs_.size())};
  }
  void settle(std::uint64_t chunk) noexcept {
    delivered_[chunk] = true;
    remaining_ -= 1;
  }

  std::span<const T> inputs_;
  std::size_t chunksize_;
  std::uint64_t chunks_;
  std::uint64_t next_ = 0;
  std::vector<Outcome<R>> results_;
  std::vector<bool> delivered_;
  std::uint64_t remaining_;
  bool cancelled_ = false;
};

/// What an imap handle reads, whatever the input's iterator type.
template <class R>
class ImapSource : public Job {
 public:
  using Job::Job;
  [[nodiscard]] virtual bool has_ready() const = 0;
  [[nodiscard]] virtual bool finished() const = 0;  // every item yielded
  virtual Outcome<R> take() = 0;
  virtual void cancel() noexcept = 0;
};

/// imap / imap_unordered: pulls the input lazily, at most `window` chunks
/// in flight or waiting to be read.
template <class F, class T, bool Star, class It, class Sent>
class ImapJob final : public ImapSource<CallResultT<F, T, Star>> {
 public:
  using R = CallResultT<F, T, Star>;
  ImapJob(F f, It begin, Sent end, std::size_t chunksize, std::size_t window, bool ordered)
      : ImapSource<R>(&run_chunk<F, T, Star>, function_word(f)),
        it_(std::move(begin)),
        end_(std::move(end)),
        chunksize_(chunksize),
        window_(window),
        ordered_(ordered) {}

  std::optional<std::uint64_t> next_chunk() override {
    if (cancelled_ || it_ == end_) return std::nullopt;
    const std::size_t buffered = (ready_items_.size() + chunksize_ - 1) / chunksize_ + ready_.size();
    if (issued_ - completed_ + buffered >= window_) return std::nullopt;
    std::vector<T> items;
    items.reserve(chunksize_);
    while (it_ != end_ && items.size() < chunksize_) {
      items.push_back(static_cast<T>(*it_));
      ++it_;
    }
    inputs_.emplace(issued_, std::move(items));
    return issued_++;
  }
  [[nodiscard]] bool exhausted() const override { return cancelled_ || it_ == end_; }
  std::uint32_t encode_chunk(std::uint64_t chunk, ByteWriter& out) override {
    const std::vector<T>& items = inputs_.at(chunk);
    for (const T& item : items) Codec<T>::encode(out, item);
    return static_cast<std::uint32_t>(items.size());
  }
  void deliver(std::uint64_t chunk, std::uint32_t count, ByteReader& in) override {
    auto it = inputs_.find(chunk);
    if (it == inputs_.end() || count != it->second.size()) return;
    std::vector<Outcome<R>> outcomes;
    outcomes.reserve(count);
    try {
      for (std::uint32_t i = 0; i < count; ++i) outcomes.push_back(decode_outcome<R>(in));
    } catch (...) {
      while (outcomes.size() < count) outcomes.emplace_back(std::current_exception());
    }
    settle(it, std::move(outcomes));
  }
  void fail(std::uint64_t chunk, const std::exception_ptr& error) override {
    auto it = inputs_.find(chunk);
    if (it == inputs_.end()) return;
    settle(it, std::vector<Outcome<R>>(it->second.size(), Outcome<R>(error)));
  }
  [[nodiscard]] std::size_t first_index(std::uint64_t chunk) const override {
    return static_cast<std::size_t>(chunk) * chunksize_;
  }

  [[nodiscard]] bool has_ready() const override {
    if (!ready_items_.empty()) return true;
    return ordered_ ? ready_.contains(next_read_) : false;
  }
  [[nodiscard]] bool finished() const override {
    return (cancelled_ || it_ == end_) && completed_ == issued_ && ready_items_.empty() && ready_.empty();
  }
  Outcome<R> take() override {
    if (ready_items_.empty() && ordered_) {
      auto node = ready_.extract(next_read_);
      ++next_read_;
      for (auto& outcome : node.mapped()) ready_items_.push_back(std::move(outcome));
    }
    Outcome<R> outcome = std::move(ready_items_.front());
    ready_items_.pop_front();
    return outcome;
  }
  void cancel() noexcept override { cancelled_ = true; }

 private:
  void settle(typename std::unordered_map<std::uint64_t, std::vector<T>>::iterator it,
              std::vector<Outcome<R>> outcomes) {
    const std::uint64_t chunk = it->first;
    inputs_.erase(it);
    completed_ += 1;
    if (ordered_) {
      ready_.emplace(chunk, std::move(outcomes));
    } else {
      for (auto& outcome : outcomes) ready_items_.push_back(std::move(outcome));
    }
  }

  It it_;
  Sent end_;
  std::size_t chunksize_;
  std::size_t window_;
  bool ordered_;
  bool cancelled_ = false;
  std::uint64_t issued_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t next_read_ = 0;
  std::unordered_map<std::uint64_t, std::vector<T>> inputs_;    // in flight (kept for a re-dispatch)
  std::map<std::uint64_t, std::vector<Outcome<R>>> ready_;     // ordered: completed, not yet read
  std::deque<Outcome<R>> ready_items_;                         // items of the chunk being read / unordered
};

/// submit / apply_async: one call, its arguments encoded at once (so an
/// encoding failure raises at the call site).
template <class F, class Tuple>
class SubmitJob final : public Job {
 public:
  using R = CallResultT<F, Tuple, true>;
  SubmitJob(F f, const Tuple& args) : Job(&run_chunk<F, Tuple, true>, function_word(f)) {
    ByteWriter writer;
    Codec<Tuple>::encode(writer, args);
    encoded_.assign(writer.data(), writer.data() + writer.size());
  }
  std::optional<std::uint64_t> next_chunk() override {
    if (issued_) return std::nullopt;
    issued_ = true;
    return 0;
  }
  [[nodiscard]] bool exhausted() const override { return issued_; }
  std::uint32_t encode_chunk(std::uint64_t, ByteWriter& out) override {
    out.write(encoded_.data(), encoded_.size());
    return 1;
  }
  void deliver(std::uint64_t, std::uint32_t count, ByteReader& in) override {
    if (outcome_ || count != 1) return;
    try {
      outcome_ = decode_outcome<R>(in);
    } catch (...) {
      outcome_ = Outcome<R>(std::current_exception());
    }
  }
  void fail(std::uint64_t, const std::exception_ptr& error) override {
    if (!outcome_) outcome_ = Outcome<R>(error);
  }
  [[nodiscard]] std::size_t first_index(std::uint64_t) const override { return 0; }

  [[nodiscard]] bool ready() const noexcept { return outcome_.has_value(); }
  [[nodiscard]] const Outcome<R>& outcome() const noexcept { return *outcome_; }

 private:
  std::vector<std::byte> encoded_;
  bool issued_ = false;
  std::optional<Outcome<R>> outcome_;
};

}  // namespace mpkit::pools::detail
