// flexconv_mpi.node: the Open MPI (any MPI) engine behind lib/distributed, built as its own
// addon so that machines without MPI still install and load flexconv (FLEXCONV_MPI=auto).
//
// Every MPI call runs on one communication thread, which also initialises MPI (so the
// FUNNELED thread level suffices). JavaScript posts operations to it: blocking ones
// (barrier, broadcast, a plain all-reduce) wait for their result; allreduceStart returns at
// once with an id, so gradient buckets are summed while backward keeps computing on the main
// thread, and wait(id) collects them. Buffers are Float32Arrays whose memory stays put; a
// reference keeps each alive until its operation has finished.
#include <cmath>
#include <mpi.h>
#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(len));
}

class CommThread {
 public:
  // Starts the thread and initialises MPI on it; throws on failure.
  void start() {
    std::promise<std::string> ready;
    auto done = ready.get_future();
    thread_ = std::thread([this, &ready] { run(ready); });
    std::string error = done.get();
    if (!error.empty()) {
      thread_.join();
      throw std::runtime_error(error);
    }
  }

  // Runs `op` on the communication thread; the future holds its MPI return code.
  std::shared_future<int> post(std::function<int()> op) {
    auto task = std::make_shared<std::packaged_task<int()>>(std::move(op));
    std::shared_future<int> result = task->get_future().share();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back([task] { (*task)(); });
    }
    cv_.notify_one();
    return result;
  }

  // Finalises MPI on the thread and joins it.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  bool running() const { return thread_.joinable() && !stopping_; }
  int rank = 0, size = 1;

 private:
  void run(std::promise<std::string>& ready) {
    int provided = 0;
    int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (code != MPI_SUCCESS) {
      ready.set_value("MPI_Init_thread failed: " + mpi_error(code));
      return;
    }
    // Errors come back as codes (turned into JavaScript errors) instead of aborting silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ready.set_value("");
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) break;  // stopping and drained
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
    MPI_Finalize();
  }

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
};

CommThread* comm = nullptr;

struct Pending {
  std::shared_future<int> result;
  Napi::Reference<Napi::Float32Array> buffer;
};
std::map<std::int64_t, Pending> pending;
std::int64_t next_id = 1;

[[noreturn]] void fail(Napi::Env env, const std::string& message) { throw Napi::Error::New(env, message); }

void require_comm(Napi::Env env, const char* fn) {
  if (!comm || !comm->running())
    fail(env, std::string(fn) + ": MPI is not initialised (call distributed.init() first)");
}

Napi::Float32Array buffer_arg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(info.Env(), std::string(fn) + ": expected a Float32Array");
  }
  return info[i].As<Napi::Float32Array>();
}

MPI_Op op_arg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  const std::string op = info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : "sum";
  if (op == "sum") return MPI_SUM;
  if (op == "max") return MPI_MAX;
  if (op == "min") return MPI_MIN;
  fail(info.Env(), std::string(fn) + ": expected op 'sum', 'max' or 'min' but received '" + op + "'");
}

void check(Napi::Env env, const char* fn, int code) {
  if (code != MPI_SUCCESS) fail(env, std::string(fn) + ": " + mpi_error(code));
}

int count_of(Napi::Env env, const char* fn, const Napi::Float32Array& a) {
  if (a.ElementLength() > static_cast<size_t>(INT32_MAX))
    fail(env, std::string(fn) + ": buffers above 2^31 - 1 floats are not supported");
  return static_cast<int>(a.ElementLength());
}

// init() -> { rank, size }; a second call returns the same.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!comm) {
    auto* c = new CommThread();
    try {
      c->start();
    } catch (const std::exception& e) {
      delete c;
      fail(env, std::string("init: ") + e.what());
    }
    comm = c;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("rank", comm->rank);
  out.Set("size", comm->size);
  return out;
}

// allreduce(buffer, op): in place, blocking.
Napi::Value Allreduce(const Napi::CallbackInfo& info) {
  const char* fn = "allreduce";
  require_comm(info.Env(), fn);
  Napi::Float32Array a = buffer_arg(info, 0, fn);
  MPI_Op op = op_arg(info, 1, fn);
  float* data = a.Data();
  int n = count_of(info.Env(), fn, a);
  check(info.Env(), fn,
        comm->post([=] { return MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_FLOAT, op, MPI_COMM_WORLD); }).get());
  return info.Env().Undefined();
}

// allreduceStart(buffer, scale = 1) -> id: a sum in place, then every element times scale,
// running while JavaScript continues. The scale is DistributedDataParallel's 1 / world size: a
// pass of its own over the buffer in JavaScript cost a third of the bare all-reduce's time.
Napi::Value AllreduceStart(const Napi::CallbackInfo& info) {
  const char* fn = "allreduceStart";
  require_comm(info.Env(), fn);
  Napi::Float32Array a = buffer_arg(info, 0, fn);
  float scale = 1.0f;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    const double s = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : std::nan("");
    if (!std::isfinite(s)) fail(info.Env(), std::string(fn) + ": expected scale to be a finite number");
    scale = static_cast<float>(s);
  }
  float* data = a.Data();
  int n = count_of(info.Env(), fn, a);
  const std::int64_t id = next_id++;
  pending[id] = Pending{comm->post([=] {
                          const int code = MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                          if (code == MPI_SUCCESS && scale != 1.0f)
                            for (int i = 0; i < n; ++i) data[i] *= scale;
                          return code;
                        }),
                        Napi::Persistent(a)};
  return Napi::Number::New(info.Env(), static_cast<double>(id));
}

// wait(id): blocks until the all-reduce `id` has finished.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  const char* fn = "wait";
  if (info.Length() < 1 || !info[0].IsNumber()) fail(info.Env(), "wait: expected an id from allreduceStart");
  const auto id = static_cast<std::int64_t>(info[0].As<Napi::Number>().DoubleValue());
  auto it = pending.find(id);
  if (it == pending.end()) fail(info.Env(), "wait: no operation " + std::to_string(id) + " is pending");
  const int code = it->second.result.get();
  pending.erase(it);
  check(info.Env(), fn, code);
  return info.Env().Undefined();
}

// broadcast(buffer, root): in place, blocking.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  const char* fn = "broadcast";
  require_comm(info.Env(), fn);
  Napi::Float32Array a = buffer_arg(info, 0, fn);
  if (info.Length() < 2 || !info[1].IsNumber()) fail(info.Env(), "broadcast: expected a root rank");
  const int root = info[1].As<Napi::Number>().Int32Value();
  if (root < 0 || root >= comm->size)
    fail(info.Env(),
         "broadcast: expected root in [0, " + std::to_string(comm->size) + ") but received " + std::to_string(root));
  float* data = a.Data();
  int n = count_of(info.Env(), fn, a);
  check(info.Env(), fn, comm->post([=] { return MPI_Bcast(data, n, MPI_FLOAT, root, MPI_COMM_WORLD); }).get());
  return info.Env().Undefined();
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  require_comm(info.Env(), "barrier");
  check(info.Env(), "barrier", comm->post([] { return MPI_Barrier(MPI_COMM_WORLD); }).get());
  return info.Env().Undefined();
}

// abort(code): ends every rank of the job now (a rank that failed must not leave the others
// waiting in a collective forever).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  const int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  MPI_Abort(MPI_COMM_WORLD, code);
  return info.Env().Undefined();
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  if (comm) {
    for (auto& [id, p] : pending) p.result.wait();
    pending.clear();
    comm->stop();
    delete comm;
    comm = nullptr;
  }
  return info.Env().Undefined();
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  return Napi::String::New(info.Env(), std::string(text, static_cast<size_t>(len)));
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("allreduce", Napi::Function::New(env, Allreduce));
  exports.Set("allreduceStart", Napi::Function::New(env, AllreduceStart));
  exports.Set("wait", Napi::Function::New(env, Wait));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("abort", Napi::Function::New(env, Abort));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  exports.Set("version", Napi::Function::New(env, Version));
  return exports;
}

}  // namespace

NODE_API_MODULE(flexconv_mpi, Module)
