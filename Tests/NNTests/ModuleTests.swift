import XCTest
import Autograd
import Core
import NN

private final class Block: Module {
    @Key("self_attn") var attention: Attention
    let norm: LayerNorm
    @Key("extra") var extra: Linear?
    @Key("absent") var absent: Linear?

    override init() {
        _attention.wrappedValue = Attention(dim: 8, heads: 2, qkvBias: true, outBias: false, outputKey: "out_proj")
        norm = LayerNorm(8)
        _extra.wrappedValue = Linear(8, 4, bias: false)
        _absent.wrappedValue = nil
    }
}

private final class Net: Module {
    let layers: [Block]
    @Key("embed_tokens") var embed: Embedding
    let scale: Parameter
    let notAModule = [1, 2, 3]
    /// Shares the embedding table (tied weights).
    let head: Embedding

    override init() {
        layers = [Block(), Block()]
        let e = Embedding(10, 8)
        _embed.wrappedValue = e
        scale = Parameter(shape: [1], initializer: .constant(2))
        head = e
    }
}

final class ModuleTests: XCTestCase {
    func testPathsFollowKeysAndDeclarationOrder() {
        let paths = Net().namedParameters().map(\.path)
        XCTAssertEqual(Array(paths.prefix(9)), [
            "layers.0.self_attn.q_proj.weight", "layers.0.self_attn.q_proj.bias",
            "layers.0.self_attn.k_proj.weight", "layers.0.self_attn.k_proj.bias",
            "layers.0.self_attn.v_proj.weight", "layers.0.self_attn.v_proj.bias",
            "layers.0.self_attn.out_proj.weight",
            "layers.0.norm.weight", "layers.0.norm.bias",
        ])
        XCTAssertTrue(paths.contains("layers.0.extra.weight"))
        XCTAssertFalse(paths.contains { $0.contains("absent") })
        XCTAssertEqual(Array(paths.suffix(2)), ["embed_tokens.weight", "scale"])
        // The tied table is listed once, at its first path.
        XCTAssertFalse(paths.contains { $0.hasPrefix("head.") })
        XCTAssertEqual(paths.count, Set(paths).count)
        XCTAssertEqual(paths.count, 2 * 10 + 2)
    }

    func testParameterLookupAndPathsRecorded() {
        let net = Net()
        let p = net.parameter(at: "layers.1.self_attn.k_proj.bias")
        XCTAssertNotNil(p)
        XCTAssertEqual(p?.shape, [8])
        XCTAssertEqual(p?.path, "layers.1.self_attn.k_proj.bias")
        XCTAssertNil(net.parameter(at: "layers.2.norm.weight"))
    }

    func testSetTrainableByPrefixAndFrozenRecordsNothing() {
        let net = Net()
        XCTAssertEqual(net.setTrainable(false, prefix: "layers.0"), 10)
        XCTAssertEqual(net.setTrainable(false, prefix: "layers.0.self"), 0, "prefixes match whole path segments")
        XCTAssertEqual(net.setTrainable(false, prefix: "layers.0.self_attn"), 7)
        let frozen = net.layers[0].norm
        XCTAssertFalse(frozen.weight.isTrainable)
        XCTAssertFalse(frozen.weight.value.requiresGrad)
        let x = Tensor.ones([2, 8])
        XCTAssertFalse(frozen(x).requiresGrad, "a frozen module on a constant input records nothing")
        XCTAssertTrue(net.layers[1].norm(x).requiresGrad)
        net.setTrainable(true, prefix: "")
        XCTAssertTrue(net.parameters().allSatisfy { $0.isTrainable && $0.value.requiresGrad })
    }

    func testGradientsAccumulateUntilZeroGrad() {
        let lin = Linear(3, 2)
        lin.initializeParameters(rng: RNG(seed: 1))
        let x = Tensor([1, 2, 3], shape: [1, 3])
        lin(x).sum().backward()
        lin(x).sum().backward()
        // d Σ(xWᵀ + b) / dW = x per output row; twice.
        XCTAssertEqual(lin.weight.grad?.scalars, [2, 4, 6, 2, 4, 6])
        XCTAssertEqual(lin.bias?.grad?.scalars, [2, 2])
        lin.zeroGrad()
        XCTAssertNil(lin.weight.grad)
    }

    func testTrainingModePropagates() {
        let net = Net()
        net.isTraining = false
        XCTAssertFalse(net.layers[1].attention.qProj.isTraining)
        XCTAssertFalse(net.layers[0].extra!.isTraining)
        net.isTraining = true
        XCTAssertTrue(net.layers[1].norm.isTraining)
    }

    func testInitializationIsPerPathAndSeeded() {
        let a = Net(), b = Net()
        a.initializeParameters(rng: RNG(seed: 3))
        b.initializeParameters(rng: RNG(seed: 3))
        for ((_, pa), (_, pb)) in zip(a.namedParameters(), b.namedParameters()) {
            XCTAssertEqual(pa.value.scalars, pb.value.scalars)
        }
        // Different paths draw different values; constants and norms follow their initialisers.
        XCTAssertNotEqual(a.layers[0].attention.qProj.weight.value.scalars, a.layers[1].attention.qProj.weight.value.scalars)
        XCTAssertEqual(a.scale.value.scalars, [2])
        XCTAssertEqual(a.layers[0].norm.weight.value.scalars, [Float](repeating: 1, count: 8))
        XCTAssertEqual(a.layers[0].attention.qProj.bias!.value.scalars, [Float](repeating: 0, count: 8))
        let c = Net()
        c.initializeParameters(rng: RNG(seed: 4))
        XCTAssertNotEqual(a.embed.weight.value.scalars, c.embed.weight.value.scalars)
    }

    func testInitializerStatistics() {
        var rng = RNG(seed: 9)
        let t = Tensor.zeros([200, 100])
        Initializer.normal(std: 0.02).fill(t, rng: &rng)
        let v = t.scalars.map(Double.init)
        let mean = v.reduce(0, +) / Double(v.count)
        let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.001)
        XCTAssertEqual(std, 0.02, accuracy: 0.0005)

        Initializer.truncatedNormal(std: 1, a: -0.5, b: 0.5).fill(t, rng: &rng)
        XCTAssertTrue(t.scalars.allSatisfy { abs($0) <= 0.5 })
        Initializer.xavierUniform().fill(t, rng: &rng)
        let bound = Float((6.0 / 300.0).squareRoot())
        XCTAssertTrue(t.scalars.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(t.scalars.map { abs($0) }.max()!, 0.95 * bound)
    }

    func testAssignKeepsStorage() {
        let p = Parameter(shape: [2, 2], initializer: .zeros)
        let before = p.value.pointer
        p.assign(Tensor([1, 2, 3, 4], shape: [2, 2]))
        XCTAssertEqual(p.value.pointer, before)
        XCTAssertEqual(p.value.scalars, [1, 2, 3, 4])
        XCTAssertTrue(p.value.requiresGrad)
    }
}
