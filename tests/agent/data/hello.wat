(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "out.txt")
  (data (i32.const 16) "hello from wasm\n")
  (func (export "_start")
    ;; iovec at 64: {ptr=16, len=16}
    (i32.store (i32.const 64) (i32.const 16))
    (i32.store (i32.const 68) (i32.const 16))
    ;; stdout
    (drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 80)))
    ;; results/ is the second preopen (fd 4): create out.txt there
    (drop (call $path_open (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 7)
                (i32.const 9) (i64.const 0x7fffffff) (i64.const 0x7fffffff) (i32.const 0) (i32.const 96)))
    (drop (call $fd_write (i32.load (i32.const 96)) (i32.const 64) (i32.const 1) (i32.const 80)))))
