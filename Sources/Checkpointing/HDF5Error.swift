// Errors raised by the HDF5 reader/writer. Every case names the file, and the
// dataset, group or attribute involved, so a bad checkpoint or fixture can be
// found without a debugger.

public enum HDF5Error: Error, CustomStringConvertible {
    /// The file does not exist (reading).
    case fileNotFound(path: String)
    /// The file exists but libhdf5 could not open or create it (not HDF5, no permission, …).
    case cannotOpen(path: String, reason: String)
    /// The handle was closed before the call.
    case closed(path: String)
    /// No object with this name (or one of its parent groups is missing).
    case missingObject(path: String, name: String)
    /// The object exists but is not the kind the call needs (a group where a dataset was expected, …).
    case wrongKind(path: String, name: String, expected: String)
    /// The stored element type cannot be converted to the requested one.
    case wrongType(path: String, name: String, expected: String, found: String)
    /// The values passed to a writer do not match the shape.
    case shapeMismatch(path: String, name: String, shape: [Int], count: Int)
    /// The attribute does not exist on the object.
    case missingAttribute(path: String, object: String, attribute: String)
    /// A libhdf5 call failed; `operation` says which step.
    case failed(path: String, name: String, operation: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "HDF5: file not found: \(path)"
        case .cannotOpen(let path, let reason):
            return "HDF5: cannot open \(path): \(reason)"
        case .closed(let path):
            return "HDF5: file \(path) is already closed"
        case .missingObject(let path, let name):
            return "HDF5: \(path): no dataset or group named '\(name)'"
        case .wrongKind(let path, let name, let expected):
            return "HDF5: \(path): '\(name)' is not a \(expected)"
        case .wrongType(let path, let name, let expected, let found):
            return "HDF5: \(path): dataset '\(name)' holds \(found), expected \(expected)"
        case .shapeMismatch(let path, let name, let shape, let count):
            return "HDF5: \(path): '\(name)': shape \(shape) needs "
                + "\(shape.reduce(1, *)) values, got \(count)"
        case .missingAttribute(let path, let object, let attribute):
            return "HDF5: \(path): object '\(object)' has no attribute '\(attribute)'"
        case .failed(let path, let name, let operation):
            return "HDF5: \(path): '\(name)': \(operation) failed"
        }
    }
}
