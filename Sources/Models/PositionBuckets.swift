import Foundation

/// NaViT position ids of the SigLIP vision tower (FACTS §2, reference README §1).
///
/// A slice of nb_h × nb_w patches maps its fractional patch coordinates onto the
/// fixed nps × nps position table by bucketing; the table is never
/// interpolated. Everything is float32 as in the official code, including the
/// way PyTorch's CPU `arange` rounds: that decides ties at bucket boundaries.
public enum PositionBuckets {
    /// PyTorch 2.x CPU float32 `arange(start, end, step)` with start/step given as
    /// doubles: len = ⌈(end − start)/step⌉; the first 16·⌊len/16⌋ elements are
    /// computed in vector groups of 8 as fl32(fl32(start + step·8⌊i/8⌋) + (i mod 8)·step),
    /// the rest as fl32(start + step·i).
    public static func arangeFloat32(start: Double, end: Double, step: Double) -> [Float] {
        let len = max(0, Int(((end - start) / step).rounded(.up)))
        let vectorized = 16 * (len / 16)
        return (0..<len).map { i in
            if i < vectorized {
                let base = Float(start + step * Double(8 * (i / 8)))
                return Float(Double(base) + Double(i % 8) * step)
            }
            return Float(start + step * Double(i))
        }
    }

    /// Bucket of each of `n` patches along one side: the number of boundaries
    /// i/nps (float32 arange) that are ≤ the patch's coordinate (`bucketize(right=True)`).
    public static func buckets(n: Int, numPatchesPerSide nps: Int) -> [Int] {
        let boundaries = arangeFloat32(start: 1 / Double(nps), end: 1.0, step: 1 / Double(nps))
        // The step is the float32 tensor 1/n, promoted to double.
        let coords = arangeFloat32(start: 0, end: 1 - 1e-6, step: Double(Float(1) / Float(n)))
        precondition(coords.count == n, "coordinate arange gave \(coords.count) values for \(n) patches")
        return coords.map { x in
            // boundaries are increasing: count those ≤ x by binary search.
            var lo = 0, hi = boundaries.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if boundaries[mid] <= x { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    /// Position ids of an h × w slice, row-major (k = r·w + c): bucket_h[r]·nps + bucket_w[c].
    public static func ids(height h: Int, width w: Int, numPatchesPerSide nps: Int) -> [Int32] {
        let bh = buckets(n: h, numPatchesPerSide: nps), bw = buckets(n: w, numPatchesPerSide: nps)
        var out = [Int32](repeating: 0, count: h * w)
        for r in 0..<h {
            for c in 0..<w { out[r * w + c] = Int32(bh[r] * nps + bw[c]) }
        }
        return out
    }

    /// Ids of a batch of slices padded to `length` patches each ([N·length]); pads get 0.
    public static func ids(tgtSizes: [(h: Int, w: Int)], length: Int, numPatchesPerSide nps: Int) -> [Int32] {
        var out = [Int32](repeating: 0, count: tgtSizes.count * length)
        for (n, size) in tgtSizes.enumerated() {
            let ids = ids(height: size.h, width: size.w, numPatchesPerSide: nps)
            precondition(ids.count <= length, "slice \(size.h)×\(size.w) does not fit \(length) patches")
            for (k, id) in ids.enumerated() { out[n * length + k] = id }
        }
        return out
    }
}
