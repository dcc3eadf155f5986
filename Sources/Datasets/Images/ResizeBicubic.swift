import Foundation

// Pillow-compatible BICUBIC resize (`Image.resize(size, Image.BICUBIC)` on an RGB image).
//
// The official MiniCPM-V preprocessing resizes every overview and slice with Pillow,
// so the pixels the vision tower sees depend on Pillow's exact arithmetic. This file
// reproduces its separable resampler for 8-bit images:
//   * cubic convolution kernel with a = -0.5, support 2;
//   * when shrinking, the kernel is stretched by the scale factor (antialiasing), so
//     a 1000 → 500 resize averages over 8 input pixels instead of 4;
//   * per output pixel, the window is [round(center - support), round(center + support))
//     clipped to the image, and its weights are normalised to sum 1 (in Double);
//   * the weights become 22-bit fixed point integers, rounded away from zero;
//   * accumulation is integer with a +0.5 rounding bias, and the result is clipped
//     to 0...255 after an arithmetic shift;
//   * the horizontal pass runs first, on only the rows the vertical pass will read,
//     then the vertical pass; a pass whose size does not change is skipped.
//
// The pass order changes the rounding of the intermediate image. Pillow up to 12
// (the official MiniCPM-V code pins 10.1) always runs horizontal first; Pillow 13 runs
// the vertical pass first when the height loses more than twice as many pixels as the
// width. `ResizePassOrder` selects either behaviour.

/// Which Pillow's order of the two resampling passes to reproduce.
public enum ResizePassOrder: String, CaseIterable, Codable {
    /// Always horizontal, then vertical: Pillow ≤ 12.
    case horizontalFirst = "horizontal-first"
    /// Vertical first when `inH − outH > 2·(inW − outW)` and the height shrinks: Pillow ≥ 13.
    case pillow13 = "pillow13"

    func verticalFirst(inW: Int, inH: Int, outW: Int, outH: Int) -> Bool {
        switch self {
        case .horizontalFirst: return false
        case .pillow13: return inH - outH > 0 && inH - outH > (inW - outW) * 2
        }
    }
}

/// Fixed-point precision Pillow uses for 8-bit images: 32 bits minus 8 for the
/// value minus 2 guard bits (weights can sum above 1 on either side of a lobe).
private let precisionBits = 22

/// Pillow's bicubic kernel (Keys' cubic convolution with a = -0.5).
@inline(__always)
private func bicubicWeight(_ t: Double) -> Double {
    let a = -0.5
    let x = abs(t)
    if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
    if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
    return 0
}

/// The resampling weights for one axis: for each output index, the first input
/// index, how many inputs it reads, and their fixed-point weights.
struct ResampleKernel {
    /// Maximum taps per output pixel (row stride of `weights`).
    let ksize: Int
    /// [outSize]: first input index read by each output.
    let first: [Int]
    /// [outSize]: number of inputs read by each output.
    let count: [Int]
    /// [outSize, ksize]: weights scaled by 2^22, zero past `count`.
    let weights: [Int32]

    /// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the box [0, inSize).
    init(inSize: Int, outSize: Int) {
        precondition(inSize > 0 && outSize > 0)
        // Pillow keeps the box in float32 and takes the difference there.
        let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 2.0 * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var w = [Double](repeating: 0, count: ksize)
        let invScale = 1.0 / filterScale
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            // C's (int) cast truncates toward zero; negatives are clamped to 0 anyway.
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0..<xmax {
                w[x] = bicubicWeight((Double(x + xmin) - center + 0.5) * invScale)
                total += w[x]
            }
            for x in 0..<xmax {
                let normalised = total != 0 ? w[x] / total : w[x]
                weights[xx * ksize + x] = ResampleKernel.fixedPoint(normalised)
            }
            first[xx] = xmin
            count[xx] = xmax
        }
        self.ksize = ksize
        self.first = first
        self.count = count
        self.weights = weights
    }

    /// Round half away from zero into 22-bit fixed point, as Pillow does.
    @inline(__always)
    static func fixedPoint(_ v: Double) -> Int32 {
        let scaled = v * Double(1 << precisionBits)
        return Int32(scaled < 0 ? scaled - 0.5 : scaled + 0.5)
    }
}

/// Pillow's `clip8`: drop the fraction bits (arithmetic shift) and clamp.
@inline(__always)
private func clip8(_ v: Int32) -> UInt8 {
    let shifted = v >> Int32(precisionBits)
    return shifted < 0 ? 0 : (shifted > 255 ? 255 : UInt8(truncatingIfNeeded: shifted))
}

extension RGBImage {
    /// Resizes with Pillow's BICUBIC filter, bit-exact with `Image.resize((w, h), BICUBIC)`.
    public func resizedBicubic(width outW: Int, height outH: Int,
                               passOrder: ResizePassOrder = .horizontalFirst) -> RGBImage {
        precondition(outW > 0 && outH > 0, "resize to an empty size \(outW)x\(outH)")
        precondition(width > 0 && height > 0, "resize of an empty image")
        let needHorizontal = outW != width
        let needVertical = outH != height
        let horizontal = ResampleKernel(inSize: width, outSize: outW)
        let vertical = ResampleKernel(inSize: height, outSize: outH)

        var current = self
        if passOrder.verticalFirst(inW: width, inH: height, outW: outW, outH: outH) {
            // The vertical pass reads the whole width; the horizontal pass then every row.
            if needVertical { current = current.resampledVertically(vertical, outHeight: outH, rowShift: 0) }
            if needHorizontal {
                current = current.resampledHorizontally(horizontal, outWidth: outW, rows: 0..<current.height)
            }
            return current
        }
        var verticalShift = 0
        if needHorizontal {
            // Only the source rows the vertical pass reads are resampled horizontally.
            let firstRow = vertical.first[0]
            let lastRow = vertical.first[outH - 1] + vertical.count[outH - 1]
            current = current.resampledHorizontally(horizontal, outWidth: outW, rows: firstRow..<lastRow)
            verticalShift = firstRow
        }
        if needVertical {
            current = current.resampledVertically(vertical, outHeight: outH, rowShift: verticalShift)
        }
        return current
    }

    /// [rows.count, outWidth, 3] from rows `rows` of self.
    private func resampledHorizontally(_ kernel: ResampleKernel, outWidth: Int, rows: Range<Int>) -> RGBImage {
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * 3)
        let inRow = width * 3
        let ksize = kernel.ksize
        pixels.withUnsafeBufferPointer { srcBuf in
        kernel.weights.withUnsafeBufferPointer { wBuf in
        kernel.first.withUnsafeBufferPointer { firstBuf in
        kernel.count.withUnsafeBufferPointer { countBuf in
        out.withUnsafeMutableBufferPointer { dstBuf in
            let src = srcBuf.baseAddress!, dst = dstBuf.baseAddress!, wts = wBuf.baseAddress!
            let half: Int32 = 1 << Int32(precisionBits - 1)
            for (r, y) in rows.enumerated() {
                let srcRow = src + y * inRow
                let dstRow = dst + r * outWidth * 3
                for xx in 0..<outWidth {
                    let k = wts + xx * ksize
                    let p = srcRow + firstBuf[xx] * 3
                    var s0 = half, s1 = half, s2 = half
                    for x in 0..<countBuf[xx] {
                        let wx = k[x]
                        s0 &+= Int32(p[3 * x]) &* wx
                        s1 &+= Int32(p[3 * x + 1]) &* wx
                        s2 &+= Int32(p[3 * x + 2]) &* wx
                    }
                    dstRow[3 * xx] = clip8(s0)
                    dstRow[3 * xx + 1] = clip8(s1)
                    dstRow[3 * xx + 2] = clip8(s2)
                }
            }
        }}}}}
        return RGBImage(width: outWidth, height: rows.count, pixels: out)
    }

    /// [outHeight, width, 3]; output row yy reads rows first[yy] - rowShift ..< + count[yy].
    private func resampledVertically(_ kernel: ResampleKernel, outHeight: Int, rowShift: Int) -> RGBImage {
        let rowBytes = width * 3
        var out = [UInt8](repeating: 0, count: outHeight * rowBytes)
        // Integer sums are exact, so accumulating a whole row at a time (cache friendly)
        // gives the same values as Pillow's per-pixel loop.
        var acc = [Int32](repeating: 0, count: rowBytes)
        let ksize = kernel.ksize
        pixels.withUnsafeBufferPointer { srcBuf in
        kernel.weights.withUnsafeBufferPointer { wBuf in
        out.withUnsafeMutableBufferPointer { dstBuf in
        acc.withUnsafeMutableBufferPointer { accBuf in
            let src = srcBuf.baseAddress!, dst = dstBuf.baseAddress!
            let a = accBuf.baseAddress!, wts = wBuf.baseAddress!
            let half: Int32 = 1 << Int32(precisionBits - 1)
            for yy in 0..<outHeight {
                a.update(repeating: half, count: rowBytes)
                let k = wts + yy * ksize
                let y0 = kernel.first[yy] - rowShift
                for y in 0..<kernel.count[yy] {
                    let wy = k[y]
                    let row = src + (y0 + y) * rowBytes
                    for i in 0..<rowBytes { a[i] &+= Int32(row[i]) &* wy }
                }
                let d = dst + yy * rowBytes
                for i in 0..<rowBytes { d[i] = clip8(a[i]) }
            }
        }}}}
        return RGBImage(width: width, height: outHeight, pixels: out)
    }
}
