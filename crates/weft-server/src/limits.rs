//! The daemon's limit of model calls at once: every model its runs reach is wrapped so that a
//! call waits for a permit before it starts and gives it back when its stream ends (or is
//! dropped). The permit is taken inside the stream, so a call waits without holding up
//! anything else of its run.

use futures::{FutureExt, StreamExt};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Semaphore;
use weft_core::{ChatModel, ChatRequest, ChatStream, ModelError, TokenCounter};
use weft_runtime::models::ModelSource;

/// Models whose calls share a number of permits.
pub struct LimitedModels {
    inner: Arc<dyn ModelSource>,
    permits: Arc<Semaphore>,
}

impl LimitedModels {
    /// `inner`'s models, at most `calls` of their calls at once.
    pub fn new(inner: Arc<dyn ModelSource>, calls: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(calls.max(1))),
        }
    }
}

impl ModelSource for LimitedModels {
    fn resolve(
        &self,
        name: Option<&str>,
        workflow_dir: &Path,
    ) -> Result<Arc<dyn ChatModel>, ModelError> {
        let model = self.inner.resolve(name, workflow_dir)?;
        Ok(Arc::new(LimitedModel {
            model,
            permits: self.permits.clone(),
        }))
    }

    fn default_spec(&self) -> Option<String> {
        self.inner.default_spec()
    }
}

/// One model, behind the shared permits.
struct LimitedModel {
    model: Arc<dyn ChatModel>,
    permits: Arc<Semaphore>,
}

impl ChatModel for LimitedModel {
    fn context_window(&self) -> u32 {
        self.model.context_window()
    }

    fn chat(&self, request: ChatRequest) -> ChatStream {
        let model = self.model.clone();
        let permits = self.permits.clone();
        let stream = async move {
            // The semaphore is never closed, so a permit always comes.
            let permit = permits.acquire_owned().await.ok();
            model.chat(request).map(move |event| {
                let _held = &permit;
                event
            })
        };
        stream.flatten_stream().boxed()
    }

    fn model_name(&self) -> Option<String> {
        self.model.model_name()
    }

    fn token_counter(&self) -> Option<Arc<dyn TokenCounter>> {
        self.model.token_counter()
    }
}
