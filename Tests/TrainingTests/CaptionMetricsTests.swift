import XCTest
import Training

/// Expected values come from pycocoevalcap 1.2 (`Bleu(4)`, `Cider()`, and
/// `PTBTokenizer`, which runs Stanford CoreNLP 3.4.1's PTBTokenizer under Java 17)
/// on the same captions; they were computed once and are pasted here as numbers.
final class CaptionMetricsTests: XCTestCase {
    /// (raw caption, pycocoevalcap's tokenised caption after punctuation removal).
    let tokenisation: [(String, String)] = [
        ("A man riding a wave on top of a surfboard.", "a man riding a wave on top of a surfboard"),
        ("Two dogs don't like the cat's toy (really!) -- \"it's red,\" she said.",
         "two dogs do n't like the cat 's toy -lrb- really -rrb- it 's red she said"),
        ("The U.S. flag, 3.5 inches wide; cost $5.00 & 20% off... ok?",
         "the u.s. flag 3.5 inches wide cost $ 5.00 & 20 % off ok"),
        ("A black-and-white photo of a street-sign: STOP! I'm sure they'll go; we've won.",
         "a black-and-white photo of a street-sign stop i 'm sure they 'll go we 've won"),
        ("He said `hello' and 'goodbye' in {braces} [brackets].",
         "he said hello and goodbye in -lcb- braces -rcb- -lsb- brackets -rsb-"),
        ("You cannot gonna wanna e-mail Mr. Smith's dog... end-of-line.",
         "you can not gon na wan na e-mail mr. smith 's dog end-of-line"),
        ("Made in the U.S.", "made in the u.s."),
        ("It costs 5. Okay, version 2.0. Next", "it costs 5 okay version 2.0 next"),
        ("Two dogs.... and three...", "two dogs and three"),
        ("A sign that says \"no parking\". Done!!! Really?! Wow??",
         "a sign that says no parking done !!! really ?! wow ??"),
        ("The dogs' toys from the 90's and '80s rock 'n' roll at 10:30",
         "the dogs toys from the 90 's and '80s rock 'n' roll at 10:30"),
        ("The cat\u{2019}s toy \u{2013} a ball \u{2014} is \u{201C}red\u{201D} and \u{2018}blue\u{2019}\u{2026} really",
         "the cat 's toy a ball is red and blue really"),
        ("A  man   with   many    spaces , and a comma", "a man with many spaces and a comma"),
        ("St. Louis vs. Chicago etc. e.g. i.e. a.m. at 5 p.m. today",
         "st. louis vs. chicago etc. e.g. i.e. a.m. at 5 p.m. today"),
        ("Isn't it? Can't, won't, shouldn't; I'd you're it'll",
         "is n't it ca n't wo n't should n't i 'd you 're it 'll"),
        ("caf\u{E9} na\u{EF}ve Z\u{FC}rich are fine", "caf\u{E9} na\u{EF}ve z\u{FC}rich are fine"),
        ("1,000 people at $100 -- all 50% off - x - y -", "1,000 people at $ 100 all 50 % off x y"),
        ("a dog , a cat . a bird ! a fish ?", "a dog a cat a bird a fish"),
    ]

    func testTokenisationMatchesStanfordPTB() {
        for (raw, expected) in tokenisation {
            XCTAssertEqual(ptbTokenize(raw).joined(separator: " "), expected, "tokenising \(raw)")
        }
    }

    func testCOCOLikeCaptions() throws {
        let refs = [
            ["A man riding a wave on top of a surfboard.", "A surfer rides a large wave in the ocean.",
             "A person on a surfboard riding a wave.", "Surfer in a black wetsuit riding a big wave."],
            ["Two dogs playing with a frisbee in the park.", "A couple of dogs run across the grass.",
             "Two brown dogs are chasing a red frisbee!", "Dogs play together on a green lawn."],
            ["A plate of food with broccoli and rice.", "A white plate topped with meat, rice and broccoli.",
             "A meal of chicken, broccoli, and rice on a plate.", "Food on a plate, including some green vegetables."],
        ]
        let cands = ["A man is riding a wave on a surfboard.", "Two dogs are playing in the grass.",
                     "A plate of rice and broccoli."]
        try check(try evaluateCaptions(candidates: cands, references: refs),
                  bleu: [0.871596138190196, 0.7657803317075242, 0.5510517342521866, 0.3292593472871522],
                  cider: 2.0304341088346347, perImage: [2.461174282789415, 1.3700961122000832, 2.260031931514406])
    }

    func testPunctuationHeavyCaptions() throws {
        let refs = [
            ["The cat's toy (a ball) is red; isn't it?", "A cat plays with a red ball.",
             "The kitten's red ball -- on the floor."],
            ["\"Stop,\" says the sign at the U.S. border.", "A stop sign near the border.",
             "A red STOP sign... at a crossing!"],
        ]
        try check(try evaluateCaptions(candidates: ["A cat's red ball.", "A red stop sign at the border."],
                                       references: refs),
                  bleu: [0.846481724749534, 0.84648172474248, 0.7237316942974813, 0.5718831187411938],
                  cider: 2.9725821482000447, perImage: [1.859474512340402, 4.085689784059688])
    }

    /// Clipping, brevity and length penalties on short token strings.
    func testPartialMatches() throws {
        let refs = [["a b c d e f", "a b c x y"], ["the quick brown fox jumps", "a quick brown fox leaps over"],
                    ["one two three", "one two three four five six seven eight"], ["red car", "a red car parked on the street"]]
        try check(try evaluateCaptions(candidates: ["a b c d", "quick brown fox jumps over the dog",
                                                    "one two three four", "car"], references: refs),
                  bleu: [0.9374999998828125, 0.8385254914488709, 0.7768081263733821, 0.6957894208112624],
                  cider: 4.038461373786487,
                  perImage: [5.286297851366104, 4.331954625117903, 5.334360038855096, 1.201232979806848])
    }

    /// The scorer's smoothing constants show when an order has no match at all.
    func testNoFourGramMatchUsesSmoothing() throws {
        let s = try evaluateCaptions(candidates: ["a b", "x y z w v u t"], references: [["a b c d e f"], ["x y z"]])
        try check(s, bleu: [0.555555555432099, 0.48795003635808826, 0.36246012423917584, 5.873949093012788e-05],
                  cider: 2.7062736204506885, perImage: [2.05101652, 3.36153072], perImageTolerance: 1e-8)
    }

    /// Candidate of 4 tokens, references of 3 and 5: the tie goes to the shorter
    /// length (no brevity penalty; the longer would give exp(1 − 5/4)). One image
    /// makes every idf log(1) − log(1) = 0, so CIDEr-D is 0 (pycocoevalcap agrees).
    func testClosestLengthTieAndSingleImage() throws {
        let s = try evaluateCaptions(candidates: ["a b c d"], references: [["a b c", "a b c d e"]])
        try check(s, bleu: [0.9999999997500002, 0.9999999997083335, 0.9999999996388892, 0.9999999994791672],
                  cider: 0, perImage: [0])
    }

    func testBadInputs() {
        XCTAssertThrowsError(try evaluateCaptions(candidates: ["a"], references: [])) {
            XCTAssertTrue("\($0)".contains("1 candidate captions but 0 reference sets"), "\($0)")
        }
        XCTAssertThrowsError(try evaluateCaptions(candidates: ["a", "b"], references: [["a"], []])) {
            XCTAssertTrue("\($0)".contains("image 1 has no reference"), "\($0)")
        }
        XCTAssertThrowsError(try evaluateCaptions(candidates: [], references: []))
    }

    private func check(_ s: CaptionScores, bleu: [Double], cider: Double, perImage: [Double],
                       perImageTolerance: Double = 1e-12, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(s.bleu.count, 4, file: file, line: line)
        for k in 0..<4 {
            XCTAssertEqual(s.bleu[k], bleu[k], accuracy: 1e-12 + 1e-12 * bleu[k], "BLEU-\(k + 1)", file: file, line: line)
        }
        XCTAssertEqual(s.ciderD, cider, accuracy: 1e-9, "CIDEr-D", file: file, line: line)
        XCTAssertEqual(s.ciderDPerImage.count, perImage.count, file: file, line: line)
        for (got, want) in zip(s.ciderDPerImage, perImage) {
            XCTAssertEqual(got, want, accuracy: max(perImageTolerance, 1e-12), "CIDEr-D per image", file: file, line: line)
        }
    }
}
