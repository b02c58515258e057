/** Language names → ISO codes: shared with the edge (pure code in src/domain). */
export { languageCode } from "../../../src/domain/languages.ts";
