import Core
import Foundation

/// The training records of one synthetic image, in the project's file formats.
struct SyntheticRecords {
    var caption: SyntheticJSON?
    var ocr: SyntheticJSON?
    var part1: [SyntheticJSON] = []
    var part2: [SyntheticJSON] = []
    var preference: SyntheticJSON?
    var regions: SyntheticJSON?

    static let describePrompts = ["Describe the image in detail.", "Describe this image in detail.",
                                  "What do you see in this image? Please be detailed."]

    /// Every record of one image; `rng` is the image's text stream.
    static func make(_ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticRecords {
        var r = SyntheticRecords()
        let image = SyntheticJSON.string(truth.image)
        if truth.kind == .shapes {
            r.caption = .object([("image", image), ("caption", .string(SyntheticLanguage.caption(truth, rng: &rng)))])
            r.regions = regions(truth)
        } else {
            r.ocr = .object([("image", image), ("caption", .string(SyntheticLanguage.transcription(truth)))])
        }
        for (k, qa) in SyntheticQuestions.questions(truth, count: 2, rng: &rng).enumerated() {
            r.part1.append(conversation(id: "\(truth.id)-q\(k + 1)", image: image,
                                        turns: [(qa.question, qa.shortAnswer)]))
        }
        r.part2.append(chat(truth, rng: &rng))
        let pair = SyntheticPreference.pair(truth, rng: &rng)
        r.preference = .object([("image", image), ("question", .string(pair.question)),
                                ("chosen", .string(pair.chosen)), ("rejected", .string(pair.rejected))])
        return r
    }

    /// The per-cell labels of a shapes image (`format: regions`): whether each cell of the 3×3
    /// grid holds an object, the shape, colour and size of the occupied ones, the background.
    static func regions(_ truth: SyntheticImageTruth) -> SyntheticJSON {
        let objects = truth.objects ?? []
        let occupant = SyntheticPosition.allCases.map { cell in objects.first { $0.position == cell } }
        func cells(_ value: (SyntheticObject?) -> SyntheticJSON) -> SyntheticJSON { .array(occupant.map(value)) }
        return .object([
            ("id", .string(truth.id)), ("image", .string(truth.image)), ("grid", .array([.int(3), .int(3)])),
            ("labels", .object([
                ("occupied", cells { .string($0 == nil ? "no" : "yes") }),
                ("shape", cells { $0.map { .string($0.shape.rawValue) } ?? .null }),
                ("color", cells { $0.map { .string($0.color.rawValue) } ?? .null }),
                ("size", cells { $0.map { .string($0.size.rawValue) } ?? .null }),
                ("background", cells { _ in .string(truth.background.rawValue) }),
            ])),
        ])
    }

    /// SFT Part-2: a detailed description or a full reading, then two follow-up questions.
    static func chat(_ truth: SyntheticImageTruth, rng: inout RNG) -> SyntheticJSON {
        var turns: [(String, String)]
        if truth.kind == .shapes {
            var textRNG = rng.derived("description")
            turns = [(describePrompts[rng.below(describePrompts.count)],
                      SyntheticLanguage.description(truth, rng: &textRNG))]
        } else {
            turns = [(SyntheticPreference.documentQuestion, SyntheticLanguage.documentDescription(truth))]
        }
        let followUps = SyntheticQuestions.questions(truth, count: 3, rng: &rng)
            .filter { !turns[0].1.contains($0.longAnswer) }.prefix(2)
        turns += followUps.map { ($0.question, $0.longAnswer) }
        return conversation(id: "\(truth.id)-chat", image: .string(truth.image), turns: turns)
    }

    /// A record of the MiniCPM-V finetune format. The first user turn carries
    /// the image placeholder(s); `image` is absent for text-only samples.
    static func conversation(id: String, image: SyntheticJSON?, placeholder: String = "<image>\n",
                             turns: [(String, String)]) -> SyntheticJSON {
        var messages: [SyntheticJSON] = []
        for (k, turn) in turns.enumerated() {
            let user = k == 0 && image != nil ? placeholder + turn.0 : turn.0
            messages.append(.object([("role", .string("user")), ("content", .string(user))]))
            messages.append(.object([("role", .string("assistant")), ("content", .string(turn.1))]))
        }
        var pairs: [(String, SyntheticJSON)] = [("id", .string(id))]
        if let image { pairs.append(("image", image)) }
        pairs.append(("conversations", .array(messages)))
        return .object(pairs)
    }

    /// A text-only Part-1 sample about the world's vocabulary.
    static func textOnly(id: String, rng: inout RNG) -> SyntheticJSON {
        let qa = SyntheticQuestions.textOnly[rng.below(SyntheticQuestions.textOnly.count)]
        return conversation(id: id, image: nil, turns: [qa])
    }

    /// A two-image Part-2 sample: which image has more shapes.
    static func imagePair(id: String, _ a: SyntheticImageTruth, _ b: SyntheticImageTruth) -> SyntheticJSON {
        let na = a.objects?.count ?? 0, nb = b.objects?.count ?? 0
        let answer: String
        if na == nb {
            answer = "Both images have \(syntheticNumberWord(na)) \(SyntheticLanguage.shapesNoun(na))."
        } else {
            let (more, m, l) = na > nb ? ("first", na, nb) : ("second", nb, na)
            answer = "The \(more) image has more shapes: \(syntheticNumberWord(m)) against \(syntheticNumberWord(l))."
        }
        let images = SyntheticJSON.object([("<image_00>", .string(a.image)), ("<image_01>", .string(b.image))])
        return conversation(id: id, image: images, placeholder: "<image_00>\n<image_01>\n",
                            turns: [("Which image has more shapes?", answer)])
    }
}
