// libmedgemma_native.so: calls into libtorch's C++ API (CUDA graphs, c10 streams) that TorchSharp does not bind,
// inside try/catch. A C++ exception (a TORCH_CHECK, a CUDA error) that reached .NET frames would end the process;
// here it becomes a return code and a message. The engine resolves libtorch's entry points by their mangled names
// and passes their addresses in, so this file needs no libtorch headers and builds with any C++17 compiler.
// Every function returns 0 on success, 1 after a C++ exception (its what() copied into err, NUL-terminated).
#include <cstdint>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <utility>

namespace {

// c10::cuda::CUDAStream by value: c10::Device (two int8) and a 64-bit stream id; trivially copyable, so it is
// passed and returned in two integer registers like this struct.
struct Stream16 {
    int64_t device;
    int64_t id;
};

using MempoolId = std::pair<unsigned long long, unsigned long long>;

void copy_message(const char* what, char* err, int size) {
    if (err == nullptr || size <= 0) return;
    std::strncpy(err, what != nullptr ? what : "", static_cast<size_t>(size) - 1);
    err[size - 1] = '\0';
}

template <typename F>
int guarded(F&& call, char* err, int size) {
    try {
        call();
        return 0;
    } catch (const std::exception& e) {
        copy_message(e.what(), err, size);
    } catch (...) {
        copy_message("a C++ exception that is not a std::exception", err, size);
    }
    return 1;
}

}  // namespace

extern "C" {

// at::cuda::CUDAGraph::CUDAGraph(bool keep_graph) on caller-provided storage (a constructor without the bool
// ignores the register).
int mg_graph_construct(void* ctor, void* self, int keep_graph, char* err, int size) {
    return guarded([&] { reinterpret_cast<void (*)(void*, bool)>(ctor)(self, keep_graph != 0); }, err, size);
}

// A member function without arguments: the destructor, capture_end(), replay().
int mg_graph_call(void* method, void* self, char* err, int size) {
    return guarded([&] { reinterpret_cast<void (*)(void*)>(method)(self); }, err, size);
}

// capture_begin(MempoolId_t pool, cudaStreamCaptureMode mode[, extra]); extra fills the register of a trailing
// bool or int parameter of newer overloads, and is ignored by one that has none.
int mg_graph_capture_begin(void* method, void* self, unsigned long long pool_first, unsigned long long pool_second,
                           int mode, long extra, char* err, int size) {
    return guarded([&] {
        reinterpret_cast<void (*)(void*, MempoolId, int, long)>(method)(self, MempoolId{pool_first, pool_second}, mode, extra);
    }, err, size);
}

// c10::cuda::getStreamFromPool(bool high_priority, DeviceIndex device)
int mg_stream_from_pool(void* fn, int high_priority, int device, Stream16* out, char* err, int size) {
    return guarded([&] { *out = reinterpret_cast<Stream16 (*)(bool, int8_t)>(fn)(high_priority != 0, static_cast<int8_t>(device)); }, err, size);
}

// c10::cuda::getCurrentCUDAStream(DeviceIndex device)
int mg_current_stream(void* fn, int device, Stream16* out, char* err, int size) {
    return guarded([&] { *out = reinterpret_cast<Stream16 (*)(int8_t)>(fn)(static_cast<int8_t>(device)); }, err, size);
}

// c10::cuda::setCurrentCUDAStream(CUDAStream stream)
int mg_set_current_stream(void* fn, const Stream16* stream, char* err, int size) {
    return guarded([&] { reinterpret_cast<void (*)(Stream16)>(fn)(*stream); }, err, size);
}

// cudaStream_t c10::cuda::CUDAStream::stream() const
int mg_raw_stream(void* method, const Stream16* stream, void** out, char* err, int size) {
    return guarded([&] { *out = reinterpret_cast<void* (*)(const Stream16*)>(method)(stream); }, err, size);
}

// For the engine's tests: a member-function-shaped entry point that throws, and one that does not.
void mg_selftest_throw(void*) { throw std::runtime_error("medgemma native guard self-test"); }
void mg_selftest_noop(void*) {}

}  // extern "C"
