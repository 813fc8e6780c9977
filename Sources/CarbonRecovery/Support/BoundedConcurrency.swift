/// Runs `transform` on every element, at most `limit` at a time, and returns the results in
/// the elements' order. The first error cancels the rest and is rethrown.
package func mapConcurrently<Element: Sendable, Result: Sendable>(
    _ elements: [Element], limit: Int, _ transform: @escaping @Sendable (Element) async throws -> Result
) async throws -> [Result] {
    precondition(limit > 0, "limit must be positive")
    return try await withThrowingTaskGroup(of: (Int, Result).self) { group in
        var results = [Result?](repeating: nil, count: elements.count)
        var next = 0
        func startNext() {
            guard next < elements.count else { return }
            let index = next, element = elements[index]
            next += 1
            group.addTask { (index, try await transform(element)) }
        }
        for _ in 0..<min(limit, elements.count) { startNext() }
        while let (index, result) = try await group.next() {
            results[index] = result
            startNext()
        }
        return results.map { $0! }
    }
}
