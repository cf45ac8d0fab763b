;; birdie's CF-tree kernels, in WebAssembly SIMD. Source of src/birch/kernels.wasm.ts, which
;; `node --import tsx scripts/build-wasm.ts` regenerates (a test checks the two agree).
;;
;; dots(rows, count, d, x, out): out[k] = rows[k] . x for `count` rows of `d` doubles, all
;; arguments byte offsets into the tree's memory. The sums are bit for bit those of the
;; JavaScript dot() in cftree.ts: product i goes to partial sum s(i mod 8) (lanes of four f64x2
;; accumulators: four independent add chains hide the add latency, two measured 6-7 GFLOP/s),
;; the d mod 8 trailing products go to s0, and the result is s0+s1+...+s7 left to right.
;; No fused multiply-add: each product is rounded before it is added, as in JavaScript.
(module
  (import "env" "memory" (memory 1 65536))
  (func (export "dots") (param $rows i32) (param $count i32) (param $d i32) (param $x i32) (param $out i32)
    (local $k i32) (local $i i32) (local $main i32) (local $end i32) (local $r i32)
    (local $a v128) (local $b v128) (local $c v128) (local $e v128) (local $s0 f64)
    ;; bytes covered by the 8-wide loop, and by the whole row
    (local.set $main (i32.shl (i32.and (local.get $d) (i32.const -8)) (i32.const 3)))
    (local.set $end (i32.shl (local.get $d) (i32.const 3)))
    (local.set $r (local.get $rows))
    (local.set $k (i32.const 0))
    (block $done
      (loop $rowloop
        (br_if $done (i32.ge_u (local.get $k) (local.get $count)))
        (local.set $a (v128.const i64x2 0 0))
        (local.set $b (v128.const i64x2 0 0))
        (local.set $c (v128.const i64x2 0 0))
        (local.set $e (v128.const i64x2 0 0))
        (local.set $i (i32.const 0))
        (block $mdone
          (loop $mloop
            (br_if $mdone (i32.ge_u (local.get $i) (local.get $main)))
            (local.set $a (f64x2.add (local.get $a)
              (f64x2.mul (v128.load (i32.add (local.get $r) (local.get $i)))
                         (v128.load (i32.add (local.get $x) (local.get $i))))))
            (local.set $b (f64x2.add (local.get $b)
              (f64x2.mul (v128.load offset=16 (i32.add (local.get $r) (local.get $i)))
                         (v128.load offset=16 (i32.add (local.get $x) (local.get $i))))))
            (local.set $c (f64x2.add (local.get $c)
              (f64x2.mul (v128.load offset=32 (i32.add (local.get $r) (local.get $i)))
                         (v128.load offset=32 (i32.add (local.get $x) (local.get $i))))))
            (local.set $e (f64x2.add (local.get $e)
              (f64x2.mul (v128.load offset=48 (i32.add (local.get $r) (local.get $i)))
                         (v128.load offset=48 (i32.add (local.get $x) (local.get $i))))))
            (local.set $i (i32.add (local.get $i) (i32.const 64)))
            (br $mloop)))
        (local.set $s0 (f64x2.extract_lane 0 (local.get $a)))
        (block $tdone
          (loop $tloop
            (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
            (local.set $s0 (f64.add (local.get $s0)
              (f64.mul (f64.load (i32.add (local.get $r) (local.get $i)))
                       (f64.load (i32.add (local.get $x) (local.get $i))))))
            (local.set $i (i32.add (local.get $i) (i32.const 8)))
            (br $tloop)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 3)))
          (f64.add (f64.add (f64.add (f64.add (f64.add (f64.add (f64.add
            (local.get $s0)
            (f64x2.extract_lane 1 (local.get $a)))
            (f64x2.extract_lane 0 (local.get $b)))
            (f64x2.extract_lane 1 (local.get $b)))
            (f64x2.extract_lane 0 (local.get $c)))
            (f64x2.extract_lane 1 (local.get $c)))
            (f64x2.extract_lane 0 (local.get $e)))
            (f64x2.extract_lane 1 (local.get $e))))
        (local.set $r (i32.add (local.get $r) (local.get $end)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rowloop)))))
