/// `numpy.argsort(values)` with its default `kind='quicksort'`, exactly as NumPy 1.x orders
/// equal values (numpy/core/src/npysort/quicksort.cpp `aquicksort_`, npysort_heapsort.h
/// `aheapsort_`; the version MXNet 1.9.1 runs with, numpy < 1.24).
///
/// MXNet's SSD example sorts detections with `argsort()[::-1]`; that sort is not stable, so
/// the order of equal scores — and with it the precision/recall curve at ties — is whatever
/// this introsort produces: median-of-three quicksort on spans of more than 16 elements,
/// insertion sort below that, heapsort once the depth limit 2·⌊log2 n⌋ is spent.
/// Values must not be NaN (scores never are).
enum NumPyArgsort {
    static func ascending(_ v: [Double]) -> [Int] {
        var idx = Array(0..<v.count)
        guard v.count > 1 else { return idx }
        let smallQuicksort = 15
        var stack: [(Int, Int, Int)] = []  // (pl, pr, depth) still to sort
        var pl = 0, pr = v.count - 1
        var depth = 2 * mostSignificantBit(v.count)
        while true {
            if depth < 0 {
                heapsort(v, &idx, from: pl, count: pr - pl + 1)
            } else {
                while pr - pl > smallQuicksort {
                    let pm = pl + ((pr - pl) >> 1)
                    if v[idx[pm]] < v[idx[pl]] { idx.swapAt(pm, pl) }
                    if v[idx[pr]] < v[idx[pm]] { idx.swapAt(pr, pm) }
                    if v[idx[pm]] < v[idx[pl]] { idx.swapAt(pm, pl) }
                    let pivot = v[idx[pm]]
                    var pi = pl, pj = pr - 1
                    idx.swapAt(pm, pj)
                    while true {
                        repeat { pi += 1 } while v[idx[pi]] < pivot
                        repeat { pj -= 1 } while pivot < v[idx[pj]]
                        if pi >= pj { break }
                        idx.swapAt(pi, pj)
                    }
                    idx.swapAt(pi, pr - 1)
                    // The larger part waits on the stack; the loop goes on with the smaller.
                    depth -= 1
                    if pi - pl < pr - pi {
                        stack.append((pi + 1, pr, depth)); pr = pi - 1
                    } else {
                        stack.append((pl, pi - 1, depth)); pl = pi + 1
                    }
                }
                if pl < pr {
                    for i in (pl + 1)...pr {  // insertion sort
                        let vi = idx[i], x = v[vi]
                        var j = i
                        while j > pl && x < v[idx[j - 1]] { idx[j] = idx[j - 1]; j -= 1 }
                        idx[j] = vi
                    }
                }
            }
            guard let next = stack.popLast() else { break }
            (pl, pr, depth) = next
        }
        return idx
    }

    /// `argsort()[::-1]`: the example's "descending" order.
    static func reversedAscending(_ v: [Double]) -> [Int] { ascending(v).reversed() }

    static func mostSignificantBit(_ n: Int) -> Int {
        var n = n, bits = 0
        while n > 1 { n >>= 1; bits += 1 }
        return bits
    }

    /// NumPy's `aheapsort_` on idx[start ..< start + n] (1-based heap indexing as in the C code).
    static func heapsort(_ v: [Double], _ idx: inout [Int], from start: Int, count n0: Int) {
        var n = n0
        func at(_ k: Int) -> Int { idx[start + k - 1] }
        func set(_ k: Int, _ x: Int) { idx[start + k - 1] = x }
        func siftDown(_ tmp: Int, from l: Int, size: Int) {
            var i = l, j = l << 1
            while j <= size {
                if j < size && v[at(j)] < v[at(j + 1)] { j += 1 }
                if v[tmp] < v[at(j)] { set(i, at(j)); i = j; j += j } else { break }
            }
            set(i, tmp)
        }
        var l = n >> 1
        while l > 0 { siftDown(at(l), from: l, size: n); l -= 1 }
        while n > 1 {
            let tmp = at(n)
            set(n, at(1))
            n -= 1
            siftDown(tmp, from: 1, size: n)
        }
    }
}
