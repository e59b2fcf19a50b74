// Lint rules, including the process boundaries: src/shared imports nothing
// from the other folders; scheduler, worker and board never import each other;
// only cli composes them.
import tseslint from 'typescript-eslint';

const boundary = (from, forbidden) => ({
  files: [`src/${from}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((dir) => ({
          group: [`**/${dir}/*`, `../${dir}/*`, `../../${dir}/*`],
          message: `src/${from} must not import from src/${dir} (process boundary)`,
        })),
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test-artifacts/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  boundary('shared', ['scheduler', 'worker', 'board', 'cli']),
  boundary('scheduler', ['worker', 'board', 'cli']),
  boundary('worker', ['scheduler', 'board', 'cli']),
  boundary('board', ['scheduler', 'worker', 'cli']),
  { files: ['test/**/*.ts', 'bench/**/*.ts'], rules: { 'no-console': 'off' } },
);
