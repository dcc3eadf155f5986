import Autograd
import Core
import Checkpointing
import Datasets
import Foundation
import Models
import NN

/// Vision pre-training on per-cell labels (`format: regions`): the vision encoder's
/// patch features are averaged over each cell of the record's grid, and one linear
/// head per attribute (shape, colour, size, …) classifies every cell. It stands in for
/// the pretrained SigLIP a real run starts from: captioning alone teaches a randomly
/// initialised tower colours but not shapes (README, Limits).
///
/// The heads exist only during the phase: they and their AdamW moments go into the
/// checkpoints written inside it (`objective/…`) and are dropped at its end.
final class RegionObjective: Objective {
    struct Head {
        let attribute: String
        let classes: [String]
        let linear: Linear
    }
    let heads: [Head]
    private let labels: [String: RegionRecord]
    private let log: (String) -> Void
    private(set) var heldOutMetrics: [String: Double] = [:]

    /// `resume`: the checkpoint this phase continues from (mid-phase), which holds the heads.
    init(files: (train: [String], eval: [String]), model: MiniCPMV, seed: UInt64, resume: String?,
         log: @escaping (String) -> Void) throws {
        self.log = log
        var byID: [String: RegionRecord] = [:]
        var classes: [String: Set<String>] = [:]
        // A file listed twice (held out = trained, in a smoke test) is read once.
        let evalOnly = files.eval.filter { !files.train.contains($0) }
        for (file, isTrain) in Array(Set(files.train)).sorted().map({ ($0, true) }) + Array(Set(evalOnly)).sorted().map({ ($0, false) }) {
            for r in try readRegionRecords(URL(fileURLWithPath: file)) {
                if let other = byID[r.id] {
                    throw DataError.schema(file: file, line: r.location.line, field: "id",
                                           problem: "'\(r.id)' is also the id of \(other.location)")
                }
                byID[r.id] = r
                guard isTrain else { continue }
                for (attribute, cells) in r.labels { classes[attribute, default: []].formUnion(cells.compactMap { $0 }) }
            }
        }
        labels = byID
        let width = model.config.vision.hiddenSize
        heads = classes.keys.sorted().map { attribute in
            let bound = 1 / Float(width).squareRoot()
            let head = Linear(width, classes[attribute]!.count, weightInit: .uniform(bound: bound), biasInit: .uniform(bound: bound))
            head.initializeParameters(rng: RNG(seed: seed).derived("regions." + attribute))
            return Head(attribute: attribute, classes: classes[attribute]!.sorted(), linear: head)
        }
        guard !heads.isEmpty else {
            throw DataError.invalidConfiguration(reason: "the regions data \(files.train) labels no cell")
        }
        if let resume { try restoreHeads(from: resume) }
        log("regions: " + heads.map { "\($0.attribute) (\($0.classes.count) classes)" }.joined(separator: ", "))
    }

    var parameters: [(path: String, parameter: Parameter)] {
        heads.flatMap { h in
            [("regions.\(h.attribute).weight", h.linear.weight)] + (h.linear.bias.map { [("regions.\(h.attribute).bias", $0)] } ?? [])
        }
    }

    func step(model: MiniCPMV, batches: [PackedBatch]) throws -> StepResult {
        var loss = 0.0, cells = 0
        var tally = Tally()
        for b in batches {
            let out = try forward(model: model, batch: b)
            (out.loss * (1 / Float(batches.count))).backward()
            loss += Double(out.loss.item) / Double(batches.count)
            cells += out.cells
            tally.add(out.tally)
        }
        return StepResult(batches, loss: loss, tokens: cells, metrics: tally.accuracies(prefix: "regions/"))
    }

    /// The held-out loss per batch; the held-out accuracy of every attribute goes to the log.
    func heldOutLoss(model: MiniCPMV, loader: DataLoader, batches: Int) throws -> Double? {
        try noGrad {
            var total = 0.0
            var tally = Tally()
            for _ in 0..<batches {
                let out = try forward(model: model, batch: try loader.next())
                total += Double(out.loss.item)
                tally.add(out.tally)
            }
            heldOutMetrics = tally.accuracies(prefix: "eval_regions/")
            log("regions: held-out accuracy " + tally.accuracies(prefix: "").sorted { $0.key < $1.key }
                .map { String(format: "%@ %.3f", String($0.key.dropLast("_accuracy".count)), $0.value) }
                .joined(separator: ", "))
            return batches > 0 ? total / Double(batches) : nil
        }
    }

    func save(into f: HDF5File) throws {
        for (path, p) in parameters { try f.write("objective/\(path)", floats: p.value.scalars, shape: p.shape) }
        try f.write("objective/parameters", string: parameters.map(\.path).joined(separator: "\n"))
    }

    private func restoreHeads(from path: String) throws {
        let f = try ModelStore.open(path)
        defer { f.close() }
        for (name, p) in parameters {
            guard f.exists("objective/\(name)") else {
                throw CheckpointError(file: path, message: "cannot resume the regions phase: the head `\(name)` is missing")
            }
            let (values, shape) = try f.readFloats("objective/\(name)")
            guard shape == p.shape else {
                throw CheckpointError(file: path, message: "the head `\(name)` has shape \(shape), expected \(p.shape) "
                                      + "(the classes of the regions data changed)")
            }
            values.withUnsafeBufferPointer { p.assign($0) }
        }
    }

    // MARK: - Forward

    /// Cell features of the first slice (the whole image) of every labelled sample of `b`,
    /// then the summed mean cross-entropy of each attribute.
    private func forward(model: MiniCPMV, batch b: PackedBatch) throws -> (loss: Tensor, cells: Int, tally: Tally) {
        let input = modelInput(b)
        guard let pixels = input.pixelValues else {
            throw DataError.invalidSample(id: b.segments.first?.id ?? "?", problem: "a regions sample has no image")
        }
        let features = model.vpm(pixels, tgtSizes: input.tgtSizes)                  // [N, L, D]
        let (n, l, d) = (features.shape[0], features.shape[1], features.shape[2])
        var pooling: [Float] = []
        var targets = [[Int32]](repeating: [], count: heads.count)
        var cells = 0
        for seg in b.segments where !seg.slices.isEmpty {
            guard let record = labels[seg.id] else {
                throw DataError.invalidSample(id: seg.id, problem: "no region labels for this sample")
            }
            let slice = seg.slices.lowerBound, size = b.tgtSizes[slice]
            let members = record.cellPatches(patchRows: size.h, patchColumns: size.w)
            for (cell, patches) in members.enumerated() {
                var row = [Float](repeating: 0, count: n * l)
                for p in patches { row[slice * l + p] = 1 / Float(patches.count) }
                pooling += row
                for (k, head) in heads.enumerated() {
                    let name = patches.isEmpty ? nil : record.labels[head.attribute]?[cell] ?? nil
                    targets[k].append(name.flatMap { head.classes.firstIndex(of: $0) }.map(Int32.init) ?? ignoreIndex)
                }
                cells += 1
            }
        }
        let pooled = matmul(Tensor(pooling, shape: [cells, n * l]), features.reshaped([n * l, d]))  // [cells, D]
        var loss: Tensor?
        var tally = Tally()
        for (k, head) in heads.enumerated() {
            let logits = head.linear(pooled)
            let (sum, count) = crossEntropy(logits, targets: targets[k])
            guard count > 0 else { continue }
            let mean = sum * (1 / Float(count))
            loss = loss.map { $0 + mean } ?? mean
            let predicted = logits.argmax()
            for (i, t) in targets[k].enumerated() where t != ignoreIndex {
                tally.count(head.attribute, right: predicted[i] == Int(t))
            }
        }
        return (loss ?? pooled.sum() * 0, cells, tally)
    }
}

/// Right and counted cells per attribute.
private struct Tally {
    var right: [String: Int] = [:]
    var total: [String: Int] = [:]

    mutating func count(_ attribute: String, right isRight: Bool) {
        total[attribute, default: 0] += 1
        if isRight { right[attribute, default: 0] += 1 }
    }

    mutating func add(_ other: Tally) {
        for (k, v) in other.total { total[k, default: 0] += v }
        for (k, v) in other.right { right[k, default: 0] += v }
    }

    func accuracies(prefix: String) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: total.map { ("\(prefix)\($0.key)_accuracy", Double(right[$0.key] ?? 0) / Double($0.value)) })
    }
}
