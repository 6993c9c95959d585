//! The dockable panels. Each draws from the [`Studio`](crate::Studio) and turns what the user
//! does into edit commands.

pub mod cast;
pub mod jobs;
pub mod script;
pub mod settings;
pub mod shared;
pub mod shots;
pub mod storyboard;
pub mod timeline;
pub mod viewer;
pub mod welcome;
