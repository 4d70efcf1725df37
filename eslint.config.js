// ESLint (flat config): the recommended rules for JavaScript, TypeScript and Svelte, and the
// project's boundaries as import rules, so a module cannot reach across a folder it must not.
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';
import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';
import svelteConfig from './svelte.config.js';

/**
 * What each folder of src/lib may import from $lib (besides itself). The layers run
 * shared -> plan -> gpu/store/models/formats -> worker -> page -> ui and routes; the page
 * takes only types from the worker, which runs in its own thread.
 */
const LAYERS = {
  shared: [],
  plan: ['shared'],
  formats: ['shared', 'presets'],
  gpu: ['shared', 'plan'],
  store: ['shared', 'plan'],
  models: ['shared', 'plan'],
  share: ['shared'],
  pwa: ['shared', 'models', 'store'],
  presets: ['shared', 'plan'],
  worker: ['shared', 'plan', 'gpu', 'store', 'models', 'presets', 'formats']
};
const FOLDERS = [...Object.keys(LAYERS), 'page', 'ui'];

/** `.catch(() => undefined)`, `.catch(() => {})` and `.then(ok, () => undefined)`: a rejection dropped. */
const SWALLOWED = [
  "CallExpression[callee.property.name='catch'] > ArrowFunctionExpression.arguments[body.type='Identifier'][body.name='undefined']",
  "CallExpression[callee.property.name='catch'] > ArrowFunctionExpression.arguments[body.type='BlockStatement'][body.body.length=0]",
  "CallExpression[callee.property.name='then'] > ArrowFunctionExpression.arguments:nth-child(2)[body.type='Identifier'][body.name='undefined']"
];

const IDB = { name: 'idb-keyval', message: 'Only src/lib/store/ touches IndexedDB.' };
const SVELTE = [
  { group: ['svelte', 'svelte/*', '$app/*'], message: 'This folder runs without Svelte.' }
];

function layerRules(folder, allowed) {
  const others = FOLDERS.filter((other) => other !== folder && !allowed.includes(other));
  const patterns = [
    ...(others.length
      ? [
          {
            group: others.map((other) => `$lib/${other}/*`),
            message: `src/lib/${folder}/ may import only from ${[folder, ...allowed].map((f) => `$lib/${f}`).join(', ')}.`
          }
        ]
      : []),
    // shared and worker code runs in the worker and the service worker too.
    ...(folder === 'pwa' || folder === 'share' ? [] : SVELTE)
  ];
  return {
    files: [`src/lib/${folder}/**/*.ts`, `src/lib/${folder}/**/*.svelte`],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: folder === 'store' ? [] : [IDB], patterns }
      ]
    }
  };
}

export default ts.config(
  { ignores: ['build/', '.svelte-kit/', 'node_modules/', '.test-output/', 'static/'] },
  js.configs.recommended,
  ...ts.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }]
    }
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: {
      parserOptions: { extraFileExtensions: ['.svelte'], parser: ts.parser, svelteConfig }
    }
  },
  {
    // Promises nobody waits for are where crash-safety leaks: each one is handled, awaited,
    // or marked `void` with the reason beside it.
    files: ['src/**/*.ts', 'src/**/*.svelte', 'workers/**/*.ts', 'tests/**/*.ts', 'bench/**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: {
          // bench/ has a tsconfig of its own (bench/tsconfig.json), which the project service finds.
          allowDefaultProject: ['src/service-worker.ts'],
          defaultProject: './tsconfig.json'
        },
        tsconfigRootDir: import.meta.dirname
      }
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/no-misused-promises': 'error'
    }
  },
  {
    files: ['src/**/*.ts', 'src/**/*.svelte', 'workers/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...SWALLOWED.map((selector) => ({
          selector,
          message:
            'A rejection dropped without a word: handle it, or say inline why nothing is lost (eslint-disable-next-line … -- why).'
        }))
      ]
    }
  },
  {
    // Every exception to a rule says why, beside it.
    plugins: comments.recommended.plugins,
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: { '@eslint-community/eslint-comments/require-description': 'error' }
  },
  ...Object.entries(LAYERS).map(([folder, allowed]) => layerRules(folder, allowed)),
  {
    // The page: everything but the components; from the worker only its types.
    files: [
      'src/lib/page/**/*.ts',
      'src/lib/page/**/*.svelte',
      'src/routes/**',
      'src/service-worker.ts'
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [IDB],
          patterns: [
            {
              group: ['$lib/worker/*', '$lib/worker/**'],
              allowTypeImports: true,
              message: 'The worker runs in its own thread: import its types only.'
            }
          ]
        }
      ]
    }
  },
  {
    // Components only: no storage, no worker, no navigation of their own.
    files: ['src/lib/ui/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [IDB],
          patterns: [
            {
              group: ['$lib/store/*', '$lib/page/runner-bridge', '$lib/worker/*', '$lib/worker/**'],
              allowTypeImports: true,
              message: 'Components reach storage and the worker through src/lib/page/.'
            }
          ]
        }
      ],
      'no-restricted-globals': [
        'error',
        { name: 'indexedDB', message: 'Components reach storage through src/lib/page/.' },
        { name: 'sessionStorage', message: 'Components reach storage through src/lib/page/.' },
        { name: 'localStorage', message: 'Progress belongs in IndexedDB (src/lib/store/).' },
        { name: 'location', message: 'Components do not navigate or reload by themselves.' },
        { name: 'Worker', message: 'The runner worker belongs to src/lib/page/runner-bridge.ts.' }
      ]
    }
  }
);
