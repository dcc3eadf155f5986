import CHDF5

// Dataset readers. libhdf5 converts between numeric element types during H5Dread when
// the memory type differs from the file type, so a float64 or int64 dataset can be read
// straight into a [Float]. Chunked and deflate-compressed datasets decode transparently.

extension HDF5File {
    /// Reads any integer or floating-point dataset, converted to Float32.
    /// (bfloat16 datasets are widened here, bit for bit, rather than by libhdf5's
    /// general float conversion.)
    public func readFloats(_ dataset: String) throws -> (values: [Float], shape: [Int]) {
        if try isBFloat16(dataset) {
            let (bits, shape): ([UInt16], [Int]) = try readNumeric(dataset, memType: lib.fileBFloat16, allowFloat: true,
                                                                   expected: "numbers")
            return (bits.map { Float(bitPattern: UInt32($0) << 16) }, shape)
        }
        return try readNumeric(dataset, memType: lib.nativeFloat, allowFloat: true, expected: "numbers")
    }

    /// Whether a dataset holds bfloat16 values (as `write(_:bfloat16:shape:)` stores them).
    public func isBFloat16(_ dataset: String) throws -> Bool {
        try lib.locked {
            let did = try openObject(dataset, kind: H5I_DATASET, kindName: "dataset")
            defer { did.close() }
            let type = HDF5Handle(id: H5Dget_type(did.id))
            defer { type.close() }
            return H5Tequal(type.id, lib.fileBFloat16) > 0
        }
    }

    /// Reads any integer dataset, converted to Int64.
    public func readInt64s(_ dataset: String) throws -> (values: [Int64], shape: [Int]) {
        try readNumeric(dataset, memType: lib.nativeInt64, allowFloat: false, expected: "integers")
    }

    /// Reads an integer dataset as UInt8 (image bytes).
    public func readUInt8s(_ dataset: String) throws -> (values: [UInt8], shape: [Int]) {
        try readNumeric(dataset, memType: lib.nativeUInt8, allowFloat: false, expected: "integers")
    }

    /// Reads a string dataset holding one string (variable- or fixed-length; scalar or one element).
    public func readString(_ dataset: String) throws -> String {
        try lib.locked {
            let did = try openObject(dataset, kind: H5I_DATASET, kindName: "dataset")
            defer { did.close() }
            let type = HDF5Handle(id: H5Dget_type(did.id))
            let space = HDF5Handle(id: H5Dget_space(did.id))
            defer { type.close(); space.close() }
            if H5Tget_class(type.id) == H5T_STRING, H5Tis_variable_str(type.id) > 0 {
                try checkStringReference(did.id, dataset)
            }
            return try readStringValue(type: type.id, space: space.id, name: dataset) { memType, buffer in
                H5Dread(did.id, memType, HDF5Library.allSpace, HDF5Library.allSpace,
                        HDF5Library.defaultPlist, buffer)
            }
        }
    }

    // MARK: - Internals (callers hold the lock)

    private func readNumeric<T>(_ dataset: String, memType: hid_t, allowFloat: Bool,
                                expected: String) throws -> (values: [T], shape: [Int]) {
        try lib.locked {
            let did = try openObject(dataset, kind: H5I_DATASET, kindName: "dataset")
            defer { did.close() }
            let type = HDF5Handle(id: H5Dget_type(did.id))
            defer { type.close() }
            let typeClass = H5Tget_class(type.id)
            guard typeClass == H5T_INTEGER || (allowFloat && typeClass == H5T_FLOAT) else {
                throw HDF5Error.wrongType(path: path, name: dataset, expected: expected,
                                          found: hdf5ClassName(type.id))
            }
            let shape = try datasetShape(did.id, dataset)
            let count = shape.reduce(1, *)
            let values = try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 {
                    let status = H5Dread(did.id, memType, HDF5Library.allSpace, HDF5Library.allSpace,
                                         HDF5Library.defaultPlist, buffer.baseAddress)
                    guard status >= 0 else { throw failure(dataset, "H5Dread") }
                }
                initialized = count
            }
            return (values, shape)
        }
    }

    /// Decodes one string from a dataset or attribute. `read` performs H5Dread/H5Aread
    /// with the given memory type into the given buffer.
    func readStringValue(type: hid_t, space: hid_t, name: String,
                         read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> String {
        guard H5Tget_class(type) == H5T_STRING else {
            throw HDF5Error.wrongType(path: path, name: name, expected: "a string",
                                      found: hdf5ClassName(type))
        }
        let count = Int(H5Sget_simple_extent_npoints(space))
        guard count == 1 else {
            throw HDF5Error.wrongType(path: path, name: name, expected: "one string",
                                      found: "\(count) strings")
        }
        if H5Tis_variable_str(type) > 0 {
            return try readVariableString(type: type, space: space, name: name, read: read)
        }
        return try readFixedString(type: type, name: name, read: read)
    }

    private func readVariableString(type: hid_t, space: hid_t, name: String,
                                    read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> String {
        let memType = HDF5Handle(id: H5Tcopy(lib.cString))
        defer { memType.close() }
        _ = H5Tset_size(memType.id, HDF5Library.variableSize)
        _ = H5Tset_cset(memType.id, H5Tget_cset(type))
        var pointers: [UnsafeMutablePointer<CChar>?] = [nil]
        let status = pointers.withUnsafeMutableBytes { read(memType.id, $0.baseAddress!) }
        guard status >= 0 else { throw failure(name, "reading variable-length string") }
        let text = pointers[0].map { String(cString: $0) } ?? ""
        // libhdf5 allocated the characters; hand them back to it.
        _ = pointers.withUnsafeMutableBytes {
            H5Dvlen_reclaim(memType.id, space, HDF5Library.defaultPlist, $0.baseAddress)
        }
        return text
    }

    private func readFixedString(type: hid_t, name: String,
                                 read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> String {
        let size = H5Tget_size(type)
        var bytes = [UInt8](repeating: 0, count: max(size, 1))
        let status = bytes.withUnsafeMutableBytes { read(type, $0.baseAddress!) }
        guard status >= 0 else { throw failure(name, "reading fixed-length string") }
        // Null-terminated and null-padded strings end at the first NUL; space-padded
        // strings (Fortran style) carry trailing blanks that are padding, not text.
        if let nul = bytes.firstIndex(of: 0) { bytes.removeSubrange(nul...) }
        if H5Tget_strpad(type) == H5T_STR_SPACEPAD {
            while bytes.last == 0x20 { bytes.removeLast() }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
