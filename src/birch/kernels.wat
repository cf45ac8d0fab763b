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
        (br $rowloop))))

  ;; normfma(x, d): |x|^2 summed as OpenBLAS' ddot sums it, four fused multiply-add lanes then
  ;; (l0 + l2) + (l1 + l3), with each fma emulated exactly as fma() in cftree.ts does (Dekker's
  ;; error-free product, Knuth's two-sum, one final rounding): bit for bit that function, two
  ;; lanes at a time. Lanes (l0, l1) are $a and (l2, l3) are $b; the d mod 4 tail goes to l0.
  (func (export "normfma") (param $x i32) (param $d i32) (result f64)
    (local $i i32) (local $main i32) (local $end i32)
    (local $a v128) (local $b v128)
    (local $l0 f64) (local $v f64)
    (local.set $main (i32.shl (i32.and (local.get $d) (i32.const -4)) (i32.const 3)))
    (local.set $end (i32.shl (local.get $d) (i32.const 3)))
    (local.set $a (v128.const i64x2 0 0))
    (local.set $b (v128.const i64x2 0 0))
    (local.set $i (i32.const 0))
    (block $mdone
      (loop $mloop
        (br_if $mdone (i32.ge_u (local.get $i) (local.get $main)))
        (local.set $a (call $fma2 (v128.load (i32.add (local.get $x) (local.get $i))) (local.get $a)))
        (local.set $b (call $fma2 (v128.load offset=16 (i32.add (local.get $x) (local.get $i))) (local.get $b)))
        (local.set $i (i32.add (local.get $i) (i32.const 32)))
        (br $mloop)))
    (local.set $l0 (f64x2.extract_lane 0 (local.get $a)))
    (block $tdone
      (loop $tloop
        (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (f64.load (i32.add (local.get $x) (local.get $i))))
        (local.set $l0 (f64x2.extract_lane 0
          (call $fma2 (f64x2.splat (local.get $v)) (f64x2.splat (local.get $l0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $tloop)))
    (f64.add
      (f64.add (local.get $l0) (f64x2.extract_lane 0 (local.get $b)))
      (f64.add (f64x2.extract_lane 1 (local.get $a)) (f64x2.extract_lane 1 (local.get $b)))))

  ;; fma(v, v, s) lane-wise, emulated: the same operations, in the same order, as fma() in cftree.ts
  (func $fma2 (param $v v128) (param $s v128) (result v128)
    (local $p v128) (local $vs v128) (local $h v128) (local $l v128) (local $e v128)
    (local $t v128) (local $z v128) (local $r v128)
    (local.set $p (f64x2.mul (local.get $v) (local.get $v)))
    (local.set $vs (f64x2.mul (f64x2.splat (f64.const 134217729)) (local.get $v)))
    (local.set $h (f64x2.sub (local.get $vs) (f64x2.sub (local.get $vs) (local.get $v))))
    (local.set $l (f64x2.sub (local.get $v) (local.get $h)))
    ;; e = (((h*h - p) + h*l) + l*h) + l*l
    (local.set $e (f64x2.add
      (f64x2.add
        (f64x2.add (f64x2.sub (f64x2.mul (local.get $h) (local.get $h)) (local.get $p))
                   (f64x2.mul (local.get $h) (local.get $l)))
        (f64x2.mul (local.get $l) (local.get $h)))
      (f64x2.mul (local.get $l) (local.get $l))))
    (local.set $t (f64x2.add (local.get $p) (local.get $s)))
    (local.set $z (f64x2.sub (local.get $t) (local.get $p)))
    ;; r = (p - (t - z)) + (s - z)
    (local.set $r (f64x2.add
      (f64x2.sub (local.get $p) (f64x2.sub (local.get $t) (local.get $z)))
      (f64x2.sub (local.get $s) (local.get $z))))
    (f64x2.add (local.get $t) (f64x2.add (local.get $r) (local.get $e))))
)
