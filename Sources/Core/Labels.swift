/// The label of positions that carry no loss (the data pipeline writes it,
/// the loss skips it).
public let ignoreIndex: Int32 = -100
