import XCTest
import Foundation
import Autograd
import Core

final class TapeTests: XCTestCase {
    /// Every op family applied to constants.
    private func everyOp(_ x: Tensor, _ w: Tensor) -> [Tensor] {
        let q = x.reshaped([1, 4, 2, 3])
        return [
            matmul(x, w, transposeB: true), linear(x, w), x + w.sum(axis: 0), x * x, x * 2, x.exp(), x.tanh(), x.silu(),
            x.sum(axis: 0), x.mean(), x.max(axis: 1), x.permuted([1, 0]), x.slice(axis: 1, 1, 3), concat([x, w], axis: 0),
            x.softmax(), x.logSoftmax(), layerNorm(x, weight: w.sum(axis: 0), bias: nil, eps: 1e-5),
            rmsNorm(x, weight: w.sum(axis: 0), eps: 1e-5), crossEntropy(x, targets: [0, 1, 2, 5]).loss,
            scaledDotProductAttention(q, q, q, mask: AttentionMask(causal: true)),
            rotaryEmbedding(x.reshaped([1, 2, 2, 6]), positions: [0, 1], theta: 10_000),
            x.indexSelect([0, 2]), x.maskedFill([true, false, true, false], 0),
        ]
    }

    func testNothingRecordedWithoutGradInputs() {
        let x = randomTensor([4, 6], seed: 1), w = randomTensor([3, 6], seed: 2)
        for (i, y) in everyOp(x, w).enumerated() {
            XCTAssertFalse(y.requiresGrad, "op \(i) recorded a node for constant inputs")
        }
    }

    func testNothingRecordedUnderNoGrad() {
        let x = randomTensor([4, 6], seed: 1).requiringGrad(), w = randomTensor([3, 6], seed: 2).requiringGrad()
        XCTAssertTrue(GradMode.isEnabled)
        let outs = noGrad { everyOp(x, w) }
        for (i, y) in outs.enumerated() { XCTAssertFalse(y.requiresGrad, "op \(i) recorded under noGrad") }
        XCTAssertTrue(GradMode.isEnabled, "noGrad restores the mode")
        XCTAssertTrue(everyOp(x, w).allSatisfy(\.requiresGrad), "with grad inputs every op records")
        // Nested scopes and errors thrown through them restore the outer mode.
        noGrad { noGrad { XCTAssertFalse(GradMode.isEnabled) }; XCTAssertFalse(GradMode.isEnabled) }
        struct Failure: Error {}
        XCTAssertThrowsError(try noGrad { throw Failure() })
        XCTAssertTrue(GradMode.isEnabled)
    }

    /// Grad mode belongs to a thread: another thread's noGrad does not stop this one recording.
    func testGradModeIsPerThread() {
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        final class Flag: @unchecked Sendable { var value = false }
        let otherSawDisabled = Flag()
        let thread = Thread {
            noGrad {
                otherSawDisabled.value = !GradMode.isEnabled
                entered.signal()
                release.wait()
            }
            done.signal()
        }
        thread.start()
        entered.wait()
        XCTAssertTrue(GradMode.isEnabled)
        XCTAssertTrue((randomTensor([2], seed: 1).requiringGrad() * 3).requiresGrad)
        release.signal()
        done.wait()
        XCTAssertTrue(otherSawDisabled.value)
    }

    func testGradientsAccumulateAcrossBackwardCalls() {
        let x = randomTensor([3, 4], seed: 3)
        let w = randomTensor([3, 4], seed: 4).requiringGrad()
        (x * w).sum().backward()
        let first = w.grad!                               // kept: later accumulation must not change it
        XCTAssertEqual(first.scalars, x.scalars)
        (x * w * 2).sum().backward()
        assertClose(w.grad!, doubles(x).map { 3 * $0 }, rtol: 1e-6, atol: 0, "x + 2x")
        XCTAssertEqual(first.scalars, x.scalars, "a gradient read earlier is not changed by later accumulation")
        // A third call through a shared gradient path.
        let h = w + 1
        (h + h).sum().backward()
        assertClose(w.grad!, doubles(x).map { 3 * $0 + 2 }, rtol: 1e-6, atol: 1e-6, "then + 2")
        w.node!.zeroGrad()
        XCTAssertNil(w.grad)
        // Several accumulations in a row (in place after the first sum), then a kept copy.
        for i in 1...4 { (x * w * Float(i)).sum().backward() }
        let kept = w.grad!
        (x * w).sum().backward()
        assertClose(kept, doubles(x).map { 10 * $0 }, rtol: 1e-6, atol: 0, "1+2+3+4")
        assertClose(w.grad!, doubles(x).map { 11 * $0 }, rtol: 1e-6, atol: 0, "then + 1")
    }

    /// Diamonds, repeated inputs and shared gradient buffers accumulate correctly.
    func testSharedPathsAccumulate() {
        let x = uniformTensor([2, 3], seed: 5, 0.5, 1.5).requiringGrad()
        let u = x * 3
        let y = (u + u) + u * u + (x + 1) + (x + 1)       // dy/dx = 3·(2 + 2u) + 2
        y.sum().backward()
        assertClose(x.grad!, doubles(x).map { 3 * (2 + 2 * 3 * $0) + 2 }, rtol: 1e-5, atol: 1e-5, "diamond")
        let z = uniformTensor([5], seed: 6, -1, 1)
        gradCheck([z], tolerance: 1e-2) { t in
            let a = t[0] * 2, b = a + a
            return (b * a + a.reshaped([5, 1]).sum(axis: 1) + b.exp()) * t[0]
        }
    }

    /// `leafReady` fires once per leaf, with the gradient it ends the pass with,
    /// leaves near the output first; the gradients are bit for bit those of a
    /// pass without it.
    func testLeafReadyFiresOnceWhenTheGradientIsFinal() {
        func pass(hook: Bool) -> (grads: [[Float]], fired: [Int: [[Float]]], order: [Int]) {
            let x = randomTensor([4, 6], seed: 11)
            let w1 = randomTensor([5, 6], seed: 12).requiringGrad(), b1 = randomTensor([5], seed: 13).requiringGrad()
            let w2 = randomTensor([3, 5], seed: 14).requiringGrad(), unused = randomTensor([2], seed: 15).requiringGrad()
            let leaves = [w1, b1, w2, unused]
            let h = (linear(x, w1) + b1).silu()
            let y = linear(h + h * b1, w2)                  // b1 is used twice, far apart in the pass
            let loss = y.logSoftmax().sum() + (w2 * w2).sum()
            var fired: [Int: [[Float]]] = [:], order: [Int] = []
            loss.backward(leafReady: hook ? { node in
                guard let i = leaves.firstIndex(where: { $0.node === node }) else { return XCTFail("not a leaf of ours") }
                fired[i, default: []].append(leaves[i].grad!.scalars); order.append(i)
            } : nil)
            return (leaves.prefix(3).map { $0.grad!.scalars }, fired, order)
        }
        let plain = pass(hook: false), heard = pass(hook: true)
        XCTAssertEqual(plain.grads.map { $0.map(\.bitPattern) }, heard.grads.map { $0.map(\.bitPattern) }, "bit-identical")
        XCTAssertEqual(Set(heard.fired.keys), [0, 1, 2], "every reached leaf, and only those")
        for (i, grads) in heard.fired {
            XCTAssertEqual(grads.count, 1, "leaf \(i) fired once")
            XCTAssertEqual(grads[0].map(\.bitPattern), heard.grads[i].map(\.bitPattern), "leaf \(i) was final when it fired")
        }
        XCTAssertEqual(heard.order.first, 2, "the last layer's weight is final first")
        XCTAssertTrue(plain.fired.isEmpty)
    }

    /// A recomputed block's parameters get their gradients in a pass of its own:
    /// they are reported once that pass is over, with their final gradient.
    func testLeafReadyAfterARecomputedBlock() {
        let x = randomTensor([3, 4], seed: 21).requiringGrad()
        let w = randomTensor([4, 4], seed: 22).requiringGrad(), v = randomTensor([4, 4], seed: 23).requiringGrad()
        let h = recomputed([x], parametersNeedGrad: true, reads: [w]) { linear($0[0], w).tanh() }
        let loss = (linear(h, v).tanh() + x).sum()
        var fired: [String: [Float]] = [:], order: [String] = []
        loss.backward(leafReady: { node in
            let name = node === w.node ? "w" : node === v.node ? "v" : node === x.node ? "x" : "?"
            XCTAssertNil(fired[name], "\(name) fired once"); fired[name] = (node === w.node ? w : node === v.node ? v : x).grad!.scalars
            order.append(name)
        })
        XCTAssertEqual(order.first, "v")
        XCTAssertEqual(Set(order), ["v", "w", "x"])
        XCTAssertEqual(fired["w"]!.map(\.bitPattern), w.grad!.scalars.map(\.bitPattern), "w's gradient was final when it fired")
        XCTAssertEqual(fired["x"]!.map(\.bitPattern), x.grad!.scalars.map(\.bitPattern))
    }

    func testNonScalarBackwardWithSeed() {
        let x = randomTensor([2, 3], seed: 7).requiringGrad()
        let seed = randomTensor([2, 3], seed: 8)
        (x * 5).backward(seed)
        assertClose(x.grad!, doubles(seed).map { 5 * $0 }, rtol: 1e-6, atol: 0, "seeded")
    }

    /// Interior gradients and saved tensors are released; leaves keep theirs.
    func testInteriorGradientsReleased() {
        let x = randomTensor([3], seed: 9).requiringGrad()
        let mid = x.exp()
        mid.sum().backward()
        XCTAssertNil(mid.grad)
        XCTAssertNotNil(x.grad)
    }

    /// Saved activations are freed as backward proceeds.
    func testSavedTensorsFreedByBackward() {
        let n = 256 * 256, bytes = n * 4
        let x = randomTensor([256, 256], seed: 10).requiringGrad()
        let before = StorageStats.liveBytes
        func chain() -> Tensor {
            var h = x
            for _ in 0..<5 { h = (h * 0.9).tanh() }          // each tanh saves its output
            return h.sum()
        }
        let loss = chain()
        let during = StorageStats.liveBytes
        XCTAssertGreaterThanOrEqual(during - before, 5 * bytes, "the graph holds five saved activations")
        loss.backward()
        let after = StorageStats.liveBytes
        XCTAssertLessThan(after - before, bytes + 4096, "only x.grad is left")
        XCTAssertEqual(x.grad!.count, n)
    }

    /// A frozen weight keeps no activation alive: x·W with W frozen saves nothing of x.
    func testFrozenOperandSavesNothing() {
        let w = randomTensor([64, 64], seed: 11)
        let x = randomTensor([512, 64], seed: 12).requiringGrad()
        let before = StorageStats.liveBytes
        func graph() -> Tensor { matmul(x * 2, w).sum() }
        let loss = graph()
        XCTAssertLessThan(StorageStats.liveBytes - before, 4096, "no [512, 64] activation is kept")
        loss.backward()
        XCTAssertNil(w.grad)
        XCTAssertNotNil(x.grad)
    }

    /// Every node releases what it saved, also where the gradient it receives is zero.
    func testEveryNodeReleasesSavedTensors() {
        let x = randomTensor([128, 128], seed: 13).requiringGrad()
        let before = StorageStats.liveBytes
        func graph() -> Tensor {
            let a = x.exp()                                   // saves its [128, 128] output
            let frozen = randomTensor([128, 128], seed: 14)
            return (a.sum() * 0) + frozen.sum() + x.sum()
        }
        let loss = graph()
        XCTAssertGreaterThanOrEqual(StorageStats.liveBytes - before, 128 * 128 * 4)
        loss.backward()
        XCTAssertLessThan(StorageStats.liveBytes - before, 128 * 128 * 4 + 4096)
    }
}
