// Demo entry point (npm run demo).
console.log('no demo yet');
