import Core
import Foundation
import Datasets

/// Drawing primitives for the synthetic world, on the pipeline's own image type.
extension RGBImage {
    mutating func setPixel(x: Int, y: Int, _ c: (UInt8, UInt8, UInt8)) {
        let i = (y * width + x) * 3
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    /// Fills the rectangle, clipped to the image.
    mutating func drawRect(x: Int, y: Int, width w: Int, height h: Int, color: (UInt8, UInt8, UInt8)) {
        let x0 = max(x, 0), x1 = min(x + w, width), y0 = max(y, 0), y1 = min(y + h, height)
        guard x0 < x1, y0 < y1 else { return }
        let stride = width
        pixels.withUnsafeMutableBufferPointer { p in
            for yy in y0..<y1 {
                var i = (yy * stride + x0) * 3
                for _ in x0..<x1 {
                    p[i] = color.0; p[i + 1] = color.1; p[i + 2] = color.2
                    i += 3
                }
            }
        }
    }

    /// Adds uniform noise in [-amplitude, amplitude] to every channel of every
    /// pixel (drawn before the objects, so only the background is noisy).
    mutating func addNoise(amplitude: Int, rng: inout RNG) {
        guard amplitude > 0 else { return }
        let span = 2 * amplitude + 1
        for i in pixels.indices {
            let v = Int(pixels[i]) + rng.below(span) - amplitude
            pixels[i] = UInt8(clamping: v)
        }
    }

    /// Fills `shape` inscribed in the square of half-side `radius` around
    /// (cx, cy); returns the tight box of the filled pixels as
    /// [x0, y0, x1, y1] with x1, y1 exclusive.
    mutating func drawShape(_ shape: SyntheticShape, cx: Int, cy: Int, radius: Int,
                       color: (UInt8, UInt8, UInt8)) -> [Int] {
        var box = [Int.max, Int.max, Int.min, Int.min]
        let r = Double(radius)
        for y in max(cy - radius, 0)..<min(cy + radius + 1, height) {
            for x in max(cx - radius, 0)..<min(cx + radius + 1, width) {
                // Sample at the pixel centre, relative to the shape's centre.
                let px = Double(x - cx) + 0.5, py = Double(y - cy) + 0.5
                guard RGBImage.syntheticContains(shape, px, py, r) else { continue }
                setPixel(x: x, y: y, color)
                box = [min(box[0], x), min(box[1], y), max(box[2], x + 1), max(box[3], y + 1)]
            }
        }
        return box
    }

    /// Whether the point (px, py), relative to the centre, is inside `shape` of radius r.
    static func syntheticContains(_ shape: SyntheticShape, _ px: Double, _ py: Double, _ r: Double) -> Bool {
        switch shape {
        case .circle:
            return px * px + py * py <= r * r
        case .square:
            return abs(px) <= 0.82 * r && abs(py) <= 0.82 * r
        case .diamond:
            return abs(px) + abs(py) <= r
        case .triangle:
            // Apex at the top (y = -r), base at y = 0.75 r spanning [-r, r].
            return py <= 0.75 * r && py >= -r && abs(px) <= (py + r) / 1.75
        case .star:
            return starContains(px, py, r)
        }
    }

    /// Unit vectors of the star's ten corners, clockwise from the top. Literal
    /// values rather than cos/sin calls, so every platform draws the same pixels.
    private static let starCorners: [(Double, Double)] = {
        let a = 0.5877852522924731, b = 0.8090169943749475    // sin 36°, cos 36°
        let c = 0.9510565162951535, d = 0.3090169943749474    // cos 18°, sin 18°
        return [(0, -1), (a, -b), (c, -d), (c, d), (a, b), (0, 1), (-a, b), (-c, d), (-c, -d), (-a, -b)]
    }()

    /// Even-odd ray test against a five-pointed star (outer radius r, inner 0.42 r, a point up).
    private static func starContains(_ px: Double, _ py: Double, _ r: Double) -> Bool {
        var vx = [Double](), vy = [Double]()
        for (k, (x, y)) in starCorners.enumerated() {
            let radius = k % 2 == 0 ? r : 0.42 * r
            vx.append(radius * x); vy.append(radius * y)
        }
        var inside = false
        var j = 9
        for i in 0..<10 {
            if (vy[i] > py) != (vy[j] > py),
               px < (vx[j] - vx[i]) * (py - vy[i]) / (vy[j] - vy[i]) + vx[i] {
                inside.toggle()
            }
            j = i
        }
        return inside
    }
}
