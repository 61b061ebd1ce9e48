// wgsl_reflect ships its types under types/, but Node can only load its ES
// module build through the deep path below (the package's `main` is CommonJS
// while it declares `"type": "module"`), so the types are re-exported here.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect/types/index.js';
}
