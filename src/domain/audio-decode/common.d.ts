/** The package's types omit the class it exports (the decoders share its module cache). */
export {};

declare module "@wasm-audio-decoders/common" {
  export const WASMAudioDecoderCommon: new () => object;
}
