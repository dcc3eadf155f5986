/// A binary min-heap: `pop` returns the smallest element (ties: whichever the
/// heap order reaches first, deterministically for the same pushes).
struct MinHeap<Element: Comparable> {
    private var items: [Element] = []

    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ value: Element) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !(items[child] < items[parent]) { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < items.count else { break }
                let right = left + 1
                let smallest = right < items.count && items[right] < items[left] ? right : left
                if !(items[smallest] < items[parent]) { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
