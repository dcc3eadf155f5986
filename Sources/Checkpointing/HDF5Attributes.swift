import CHDF5

// Attributes on datasets and groups (`""` or `"/"` is the root group). Integer
// attributes are written as 1-D int64 arrays; strings as scalar variable-length UTF-8.
// Setting an attribute that exists replaces it.

extension HDF5File {
    public func setAttribute(_ name: String, on object: String, int64s: [Int64]) throws {
        try lib.locked {
            let space = try dataspace([int64s.count], object)
            defer { space.close() }
            let aid = try createAttribute(name, on: object, type: lib.fileInt64, space: space.id)
            defer { aid.close() }
            let status = int64s.withUnsafeBytes { H5Awrite(aid.id, lib.nativeInt64, $0.baseAddress) }
            guard status >= 0 else { throw failure(object, "writing attribute '\(name)'") }
        }
    }

    public func setAttribute(_ name: String, on object: String, string: String) throws {
        try lib.locked {
            let type = utf8StringType()
            let space = try dataspace([], object)
            defer { type.close(); space.close() }
            let aid = try createAttribute(name, on: object, type: type.id, space: space.id)
            defer { aid.close() }
            let status = string.withCString { chars -> herr_t in
                var pointers: [UnsafePointer<CChar>?] = [chars]
                return H5Awrite(aid.id, type.id, &pointers)
            }
            guard status >= 0 else { throw failure(object, "writing attribute '\(name)'") }
        }
    }

    /// Reads an integer attribute (any integer type, scalar or array) as Int64.
    public func attributeInt64s(_ name: String, on object: String) throws -> [Int64] {
        try lib.locked {
            let aid = try openAttribute(name, on: object)
            let type = HDF5Handle(id: H5Aget_type(aid.id))
            let space = HDF5Handle(id: H5Aget_space(aid.id))
            defer { aid.close(); type.close(); space.close() }
            guard H5Tget_class(type.id) == H5T_INTEGER else {
                throw HDF5Error.wrongType(path: path, name: "\(object)@\(name)", expected: "integers",
                                          found: hdf5ClassName(type.id))
            }
            let count = Int(H5Sget_simple_extent_npoints(space.id))
            var values = [Int64](repeating: 0, count: count)
            if count > 0 {
                let status = values.withUnsafeMutableBytes { H5Aread(aid.id, lib.nativeInt64, $0.baseAddress) }
                guard status >= 0 else { throw failure(object, "reading attribute '\(name)'") }
            }
            return values
        }
    }

    /// Reads a string attribute (variable- or fixed-length).
    public func attributeString(_ name: String, on object: String) throws -> String {
        try lib.locked {
            let aid = try openAttribute(name, on: object)
            let type = HDF5Handle(id: H5Aget_type(aid.id))
            let space = HDF5Handle(id: H5Aget_space(aid.id))
            defer { aid.close(); type.close(); space.close() }
            // An attribute's heap reference cannot be read before libhdf5 follows it: every
            // collection of the file is checked instead.
            if H5Tget_class(type.id) == H5T_STRING, H5Tis_variable_str(type.id) > 0 { try checkGlobalHeaps() }
            return try readStringValue(type: type.id, space: space.id, name: "\(object)@\(name)") {
                H5Aread(aid.id, $0, $1)
            }
        }
    }

    // MARK: - Internals (callers hold the lock)

    private func openAttribute(_ name: String, on object: String) throws -> HDF5Handle {
        let file = try openFile()
        guard linkExists(object) else { throw HDF5Error.missingObject(path: path, name: object) }
        let target = Self.normalized(object)
        guard H5Aexists_by_name(file, target, name, HDF5Library.defaultPlist) > 0 else {
            throw HDF5Error.missingAttribute(path: path, object: object, attribute: name)
        }
        let aid = H5Aopen_by_name(file, target, name, HDF5Library.defaultPlist, HDF5Library.defaultPlist)
        guard aid >= 0 else { throw failure(object, "opening attribute '\(name)'") }
        return HDF5Handle(id: aid)
    }

    private func createAttribute(_ name: String, on object: String, type: hid_t,
                                 space: hid_t) throws -> HDF5Handle {
        let file = try openFile()
        guard linkExists(object) else { throw HDF5Error.missingObject(path: path, name: object) }
        let target = Self.normalized(object)
        if H5Aexists_by_name(file, target, name, HDF5Library.defaultPlist) > 0 {
            guard H5Adelete_by_name(file, target, name, HDF5Library.defaultPlist) >= 0 else {
                throw failure(object, "replacing attribute '\(name)'")
            }
        }
        let aid = H5Acreate_by_name(file, target, name, type, space, HDF5Library.defaultPlist,
                                    HDF5Library.defaultPlist, HDF5Library.defaultPlist)
        guard aid >= 0 else { throw failure(object, "creating attribute '\(name)'") }
        return HDF5Handle(id: aid)
    }
}
