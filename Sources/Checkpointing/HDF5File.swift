import CHDF5
import Foundation

/// An open HDF5 file (libhdf5, serial build).
///
/// Names are slash-separated paths relative to the root group (`"grads/post_layernorm.bias"`);
/// a leading `/` is accepted, and `""` or `"/"` is the root. Reading accepts any numeric
/// element type and converts it; writing stores little-endian float32, int64, uint8 and
/// variable-length UTF-8 strings, creating intermediate groups as needed. Scalars are
/// 0-d datasets (shape `[]`). Every libhdf5 call is serialised by a process-wide lock,
/// so instances may be used from several threads.
public final class HDF5File {
    public let path: String
    /// The file identifier, or -1 once closed.
    var fileID: hid_t
    let lib = HDF5Library.shared
    /// Whether the global heaps were found sound (HDF5GlobalHeap.swift); files this
    /// process writes are trusted.
    var heapsChecked = false

    /// Opens an existing file read-only.
    public init(readingAt path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw HDF5Error.fileNotFound(path: path)
        }
        let lib = HDF5Library.shared
        fileID = try lib.locked {
            let fapl = HDF5Handle(id: lib.fileAccessList())
            defer { fapl.close() }
            let id = H5Fopen(path, HDF5Library.accReadOnly, fapl.id)
            guard id >= 0 else {
                throw HDF5Error.cannotOpen(path: path, reason: Self.reason(lib, "not an HDF5 file"))
            }
            return id
        }
    }

    /// Creates a file for writing, truncating any existing file at `path`.
    public init(creatingAt path: String) throws {
        self.path = path
        let lib = HDF5Library.shared
        fileID = try lib.locked {
            let fapl = HDF5Handle(id: lib.fileAccessList())
            defer { fapl.close() }
            let id = H5Fcreate(path, HDF5Library.accTruncate, HDF5Library.defaultPlist, fapl.id)
            guard id >= 0 else {
                throw HDF5Error.cannotOpen(path: path, reason: Self.reason(lib, "cannot create file"))
            }
            return id
        }
        heapsChecked = true
    }

    deinit { close() }

    /// Closes the file. Safe to call more than once.
    public func close() {
        lib.locked {
            if fileID >= 0 { _ = H5Fclose(fileID) }
            fileID = -1
        }
    }

    /// Flushes buffered data of the whole file to disk.
    public func flush() throws {
        try lib.locked {
            let file = try openFile()
            guard H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0 else {
                throw failure("/", "flush")
            }
        }
    }

    /// True when `name` is an existing dataset or group (every parent must exist too).
    public func exists(_ name: String) -> Bool {
        lib.locked {
            guard fileID >= 0 else { return false }
            return linkExists(name)
        }
    }

    /// Names directly under `group`, sorted; `""` or `"/"` is the root group.
    public func members(of group: String) throws -> [String] {
        try lib.locked {
            let gid = try openObject(group, kind: H5I_GROUP, kindName: "group")
            defer { gid.close() }
            var info = H5G_info_t()
            guard H5Gget_info(gid.id, &info) >= 0 else { throw failure(group, "H5Gget_info") }
            var names: [String] = []
            for i in 0..<info.nlinks {
                names.append(try linkName(group: gid.id, index: i, groupName: group))
            }
            return names.sorted()
        }
    }

    /// The dimensions of a dataset; `[]` for a scalar.
    public func shape(of dataset: String) throws -> [Int] {
        try lib.locked {
            let did = try openObject(dataset, kind: H5I_DATASET, kindName: "dataset")
            defer { did.close() }
            return try datasetShape(did.id, dataset)
        }
    }

    // MARK: - Internals (callers hold the lock)

    /// The file identifier, or `.closed` when the file was closed.
    func openFile() throws -> hid_t {
        guard fileID >= 0 else { throw HDF5Error.closed(path: path) }
        return fileID
    }

    /// `name` as libhdf5 wants it: relative to the root, "." for the root itself.
    static func normalized(_ name: String) -> String {
        let trimmed = name.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        return trimmed.isEmpty ? "." : trimmed
    }

    /// Checks each path component in turn: H5Lexists fails (rather than returning false)
    /// when an intermediate group is missing.
    func linkExists(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: true)
        var prefix = ""
        for part in parts {
            prefix += prefix.isEmpty ? String(part) : "/" + part
            guard H5Lexists(fileID, prefix, HDF5Library.defaultPlist) > 0 else { return false }
        }
        return true
    }

    /// Opens a dataset or group by name and checks its kind.
    func openObject(_ name: String, kind: H5I_type_t, kindName: String) throws -> HDF5Handle {
        let file = try openFile()
        guard linkExists(name) else { throw HDF5Error.missingObject(path: path, name: name) }
        let oid = H5Oopen(file, Self.normalized(name), HDF5Library.defaultPlist)
        guard oid >= 0 else { throw failure(name, "H5Oopen") }
        let handle = HDF5Handle(id: oid)
        guard H5Iget_type(oid) == kind else {
            handle.close()
            throw HDF5Error.wrongKind(path: path, name: name, expected: kindName)
        }
        return handle
    }

    /// Dimensions of an open dataset's dataspace.
    func datasetShape(_ did: hid_t, _ name: String) throws -> [Int] {
        let space = HDF5Handle(id: H5Dget_space(did))
        defer { space.close() }
        return try spaceShape(space.id, name)
    }

    func spaceShape(_ space: hid_t, _ name: String) throws -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw failure(name, "H5Sget_simple_extent_ndims") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { _ = H5Sget_simple_extent_dims(space, &dims, nil) }
        // A damaged file can declare any extent: the element count must be a number this
        // machine can hold, and its float32 values must fit in memory.
        var count = 1
        for d in dims {
            let (c, overflow) = count.multipliedReportingOverflow(by: Int(clamping: d))
            guard !overflow, d <= hsize_t(Int.max) else {
                throw HDF5Error.failed(path: path, name: name, operation: "reading the shape \(dims): too many elements")
            }
            count = c
        }
        let limit = ProcessInfo.processInfo.physicalMemory / 4
        guard UInt64(count) <= limit else {
            throw HDF5Error.failed(path: path, name: name, operation: "reading the shape \(dims): \(count) elements "
                                   + "do not fit in this machine's memory (the file is damaged?)")
        }
        return dims.map { Int($0) }
    }

    private func linkName(group gid: hid_t, index: hsize_t, groupName: String) throws -> String {
        let length = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0,
                                        HDF5Library.defaultPlist)
        guard length >= 0 else { throw failure(groupName, "H5Lget_name_by_idx") }
        var buffer = [CChar](repeating: 0, count: Int(length) + 1)
        _ = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count,
                               HDF5Library.defaultPlist)
        return String(cString: buffer)
    }

    /// A `.failed` error carrying libhdf5's own most specific message.
    func failure(_ name: String, _ operation: String) -> HDF5Error {
        let message = lib.lastErrorMessage()
        let detail = message.isEmpty ? operation : "\(operation) (\(message))"
        return .failed(path: path, name: name, operation: detail)
    }

    private static func reason(_ lib: HDF5Library, _ fallback: String) -> String {
        let message = lib.lastErrorMessage()
        return message.isEmpty ? fallback : message
    }
}
