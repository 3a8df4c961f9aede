export * from '../../bench/lib/netns.js';
