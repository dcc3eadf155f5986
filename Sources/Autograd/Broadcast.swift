import Core
/// Broadcasting rules (NumPy's): shapes are aligned at the right, and an axis
/// of size 1 stretches to match.

func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        require(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
        out[i] = max(da, db)
    }
    return out
}

/// Element strides of `shape` viewed in `outShape` (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let r = outShape.count, pad = r - shape.count
    var strides = [Int](repeating: 0, count: r)
    var s = 1
    for i in stride(from: r - 1, through: pad, by: -1) {
        let d = shape[i - pad]
        strides[i] = d == 1 ? 0 : s
        s *= d
    }
    return strides
}

/// Walks `outShape` row by row (all axes but the last), giving each row's
/// starting offsets into two broadcast operands.
@inline(__always)
func forEachRow(_ outShape: [Int], _ sa: [Int], _ sb: [Int],
                _ body: (_ row: Int, _ offA: Int, _ offB: Int) -> Void) {
    let r = outShape.count
    if r == 0 { body(0, 0, 0); return }
    let rows = outShape.dropLast().reduce(1, *)
    var idx = [Int](repeating: 0, count: max(r - 1, 0))
    var offA = 0, offB = 0
    for row in 0..<rows {
        body(row, offA, offB)
        var ax = r - 2
        while ax >= 0 {
            idx[ax] += 1; offA += sa[ax]; offB += sb[ax]
            if idx[ax] < outShape[ax] { break }
            offA -= sa[ax] * idx[ax]; offB -= sb[ax] * idx[ax]; idx[ax] = 0
            ax -= 1
        }
    }
}

/// Row offsets into two broadcast operands, starting at any row (so that a
/// thread can begin in the middle) and stepping one row at a time.
struct BroadcastCursor {
    private let shape: [Int], sa: [Int], sb: [Int]
    private var idx: [Int]
    private(set) var offA = 0, offB = 0

    init(_ shape: [Int], _ sa: [Int], _ sb: [Int], row: Int) {
        self.shape = shape; self.sa = sa; self.sb = sb
        idx = [Int](repeating: 0, count: Swift.max(shape.count - 1, 0))
        var rem = row
        for ax in stride(from: shape.count - 2, through: 0, by: -1) {
            idx[ax] = rem % shape[ax]; rem /= shape[ax]
            offA += idx[ax] * sa[ax]; offB += idx[ax] * sb[ax]
        }
    }

    mutating func advance() {
        var ax = shape.count - 2
        while ax >= 0 {
            idx[ax] += 1; offA += sa[ax]; offB += sb[ax]
            if idx[ax] < shape[ax] { return }
            offA -= sa[ax] * idx[ax]; offB -= sb[ax] * idx[ax]; idx[ax] = 0
            ax -= 1
        }
    }
}

/// Sums `g` over the axes that broadcasting stretched, giving `shape`.
func reduceToShape(_ g: Tensor, _ shape: [Int]) -> Tensor {
    if g.shape == shape { return g }
    let r = g.rank, pad = r - shape.count
    var axes: [Int] = []
    for i in 0..<r where i < pad || (shape[i - pad] == 1 && g.shape[i] != 1) { axes.append(i) }
    return g.sum(axes: axes, keepDims: true).reshaped(shape)
}
