/* The launcher's addon (build/launch.node): compiles berth's bundle with its V8 code cache
 * and runs it, through V8's API. node's own way, vm.Script, had every command load the vm
 * module and node's loader for public modules first (about 1 ms, a fortieth of a quick
 * command). The bundle and its cache are mapped read-only, not read: read, the 1 MB bundle
 * and its cache cost about 3 ms (fresh pages for a copy of each, then V8's own copy of the
 * source); mapped, V8 reads only the pages it uses (with a code cache, almost none of the
 * source). A mapping shows later writes to the file, and a read past a truncation is SIGBUS:
 * berth's build replaces these files by rename, never in place, so a running berth keeps
 * its own. Built against node's own headers: a classic addon, for one node major. */
#include <node.h>
#include <node_buffer.h>
#include <v8.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct Mapping {
  const char *data = nullptr;
  size_t size = 0;
};

/* The file read-only in memory; an empty Mapping when it cannot be (or is empty). */
Mapping mapFile(const char *path) {
  Mapping m;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return m;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    void *p = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) m = {static_cast<const char *>(p), static_cast<size_t>(st.st_size)};
  }
  close(fd);
  return m;
}

/* The bundle's source: its mapping as a one-byte string (the build keeps it ASCII), kept for
 * the process's life. */
class MappedSource : public v8::String::ExternalOneByteStringResource {
 public:
  explicit MappedSource(Mapping m) : m_(m) {}
  const char *data() const override { return m_.data; }
  size_t length() const override { return m_.size; }
  void Dispose() override {}

 private:
  Mapping m_;
};

// What load() compiled, for codeCache(). Never freed: a static Global's destructor would run
// after node has disposed of V8, at exit.
v8::Global<v8::UnboundScript> *loaded = new v8::Global<v8::UnboundScript>();

/* load(file, cacheFile?): the value of the script in file, compiled with the code cache in
 * cacheFile where there is one V8 takes; undefined when file cannot be read. Sets
 * this.cacheRejected when a cache was given and V8 refused it. */
void Load(const v8::FunctionCallbackInfo<v8::Value> &args) {
  v8::Isolate *isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::String::Utf8Value file(isolate, args[0]);
  Mapping source = *file ? mapFile(*file) : Mapping{};
  if (!source.data) return;
  v8::Local<v8::String> text;
  if (!v8::String::NewExternalOneByte(isolate, new MappedSource(source)).ToLocal(&text)) return;
  Mapping cache;
  if (args.Length() > 1 && args[1]->IsString()) {
    v8::String::Utf8Value cacheFile(isolate, args[1]);
    if (*cacheFile) cache = mapFile(*cacheFile);
  }
  v8::ScriptCompiler::CachedData *data = cache.data
    ? new v8::ScriptCompiler::CachedData(reinterpret_cast<const uint8_t *>(cache.data), cache.size)
    : nullptr;
  v8::ScriptOrigin origin(isolate, args[0]);
  v8::ScriptCompiler::Source compiled(text, origin, data);  // owns data, not its bytes
  v8::Local<v8::Script> script;
  bool ok = v8::ScriptCompiler::Compile(context, &compiled, data ? v8::ScriptCompiler::kConsumeCodeCache : v8::ScriptCompiler::kNoCompileOptions).ToLocal(&script);
  if (data) {
    args.This()->Set(context, v8::String::NewFromUtf8Literal(isolate, "cacheRejected"), v8::Boolean::New(isolate, compiled.GetCachedData()->rejected)).Check();
  }
  if (cache.data) munmap(const_cast<char *>(cache.data), cache.size);  // V8 has taken what it needs
  if (!ok) return;  // the exception is pending
  loaded->Reset(isolate, script->GetUnboundScript());
  v8::Local<v8::Value> result;
  if (script->Run(context).ToLocal(&result)) args.GetReturnValue().Set(result);
}

/* codeCache(): a Buffer of the code cache of what load() compiled, with every function
 * compiled since. */
void CodeCache(const v8::FunctionCallbackInfo<v8::Value> &args) {
  v8::Isolate *isolate = args.GetIsolate();
  if (loaded->IsEmpty()) {
    isolate->ThrowException(v8::Exception::Error(v8::String::NewFromUtf8Literal(isolate, "nothing loaded")));
    return;
  }
  v8::ScriptCompiler::CachedData *data = v8::ScriptCompiler::CreateCodeCache(loaded->Get(isolate));
  v8::Local<v8::Object> buffer;
  if (node::Buffer::Copy(isolate, reinterpret_cast<const char *>(data->data), data->length).ToLocal(&buffer))
    args.GetReturnValue().Set(buffer);
  delete data;
}

}  // namespace

NODE_MODULE_INIT() {
  // bin/berth starts the quick commands with --no-rehash-snapshot, which matters only while
  // V8 deserialises its snapshot, at start-up. V8 checks every code cache against a hash of
  // its flags: with that flag still off, node's cache of its own modules (those not in the
  // snapshot: vm, os, child_process, ...) was refused and each compiled from source (26 of
  // them in `version`). Set back, every command has node's default flags from here on, and
  // berth's caches are made and taken under them whatever the command's start-up flags.
  v8::V8::SetFlagsFromString("--rehash-snapshot");
  NODE_SET_METHOD(exports, "load", Load);
  NODE_SET_METHOD(exports, "codeCache", CodeCache);
}
