import Foundation
import XCTest
import Autograd
import Core
import Datasets

/// Builds small synthetic samples with exact, independently known structure:
/// `text… <image> unk×Q </image> … question… answer… end`, labels on the answer and end token.
enum SampleFactory {
    static let unk: Int32 = 2003, imageOpen: Int32 = 2004, imageClose: Int32 = 2005, end: Int32 = 2002

    /// A sample of `prefix` text tokens, one span per slice size, `question` tokens, then
    /// `answer` supervised tokens (the last being the end token).
    static func sample(_ id: String, prefix: Int = 2, slices: [TgtSize] = [], queryCount q: Int = 3,
                       question: Int = 2, answer: Int = 3, seed: UInt64 = 1) -> TrainingSample {
        var rng = RNG(seed: seed)
        func text(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(10 + rng.below(900)) } }
        var ids = text(prefix)
        var bounds: [Range<Int>] = []
        var images: [ImageSlice] = []
        for (k, size) in slices.enumerated() {
            ids.append(imageOpen)
            bounds.append(ids.count..<(ids.count + q))
            ids += Array(repeating: unk, count: q)
            ids.append(imageClose)
            let n = ImageSlice.stripCount(size, patchSize: 14)
            images.append(ImageSlice(tgtSize: size, pixels: (0..<n).map { Float(k + 1) + Float($0) / Float(n) }))
        }
        ids += text(question)
        let answerStart = ids.count
        ids += text(answer - 1) + [end]
        var labels = Array(repeating: ignoreIndex, count: ids.count)
        // The token before the answer predicts its first token; the end token predicts nothing.
        for t in (answerStart - 1)..<(ids.count - 1) { labels[t] = ids[t + 1] }
        return TrainingSample(id: id, inputIds: ids, labels: labels, imageBounds: bounds, slices: images)
    }
}

/// A fresh temporary folder per test.
final class ScratchFolder {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("datapipe-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    @discardableResult
    func write(_ name: String, _ text: String) -> URL {
        let file = url.appendingPathComponent(name)
        try! FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! Data(text.utf8).write(to: file)
        return file
    }
}

