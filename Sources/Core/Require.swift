/// A precondition that survives `-Ounchecked`.
///
/// The package builds with `-Ounchecked`, where `precondition` is not even
/// evaluated: a shape mismatch would read out of bounds instead of stopping
/// with a message. The checks guarded here are a few integer comparisons per
/// op, so they stay on.
@inlinable @inline(__always)
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
