// The event kinds a monitor may filter on, in the API's order (the OpenAPI enum of filters.kinds).
export const KINDS = [
  "transaction",
  "native_transfer",
  "internal_transfer",
  "withdrawal",
  "erc20_transfer",
  "erc721_transfer",
  "erc1155_transfer",
  "log",
];
